//! Transactions a cancelled caller cannot leave open. sqlx 0.8.6 and 0.9.0 return a connection
//! to the pool still inside a transaction when the future is dropped during `BEGIN`
//! (transact-rs/sqlx#4385, #4393; fixed by #4394, not yet released): later autocommit writes on
//! that connection then run inside the stale transaction and are lost. A connection checked out
//! here goes back to the pool only once its transaction has ended; dropped before that (a
//! deadline, a client that went away), it is closed, and the server rolls the transaction back.

use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};

pub struct Guarded<DB: Database> {
    conn: Option<PoolConnection<DB>>,
}

impl<DB: Database> Guarded<DB> {
    pub async fn acquire(pool: &Pool<DB>) -> Result<Self, sqlx::Error> {
        Ok(Guarded { conn: Some(pool.acquire().await?) })
    }

    /// The connection, to begin the transaction on.
    pub fn conn(&mut self) -> &mut DB::Connection {
        // The option is emptied only by `release` (which consumes self) and by drop.
        self.conn.as_deref_mut().expect("connection present until released") // ok: see above
    }

    /// The transaction has been committed or rolled back: the connection may be reused.
    pub fn release(mut self) {
        self.conn.take();
    }
}

impl<DB: Database> Drop for Guarded<DB> {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
    }
}
