//! Turns for password checks, per account (RFC 6749 §4.3.2: protect the password against brute
//! force). At most `per_account` checks of one account run at once on this instance; later
//! attempts wait, never fail, and read the account only when their turn comes, so they see every
//! failure counted before them. That bounds how many guesses a parallel burst gets verified past
//! the lockout threshold to `per_account - 1` per instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct LoginGate {
    per_account: usize,
    accounts: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    turns: Arc<Semaphore>,
    /// Attempts holding or awaiting a turn: the entry goes when the last one ends.
    users: usize,
}

/// One attempt's turn; dropping it (the check is over, or its request was abandoned) frees it.
pub struct Turn<'a> {
    gate: &'a LoginGate,
    account: String,
    _permit: Option<OwnedSemaphorePermit>,
}

impl LoginGate {
    pub fn new(per_account: usize) -> LoginGate {
        LoginGate { per_account: per_account.max(1), accounts: Mutex::default() }
    }

    fn accounts(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Nothing panics while holding the lock; a poisoned map is still consistent.
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a turn at checking a password of `account` (the normalised username).
    pub async fn enter(&self, account: &str) -> Turn<'_> {
        let turns = {
            let mut accounts = self.accounts();
            let entry = accounts
                .entry(account.to_string())
                .or_insert_with(|| Entry { turns: Arc::new(Semaphore::new(self.per_account)), users: 0 });
            entry.users += 1;
            entry.turns.clone()
        };
        // Made before waiting, so that an abandoned wait also leaves the map.
        let mut turn = Turn { gate: self, account: account.to_string(), _permit: None };
        turn._permit = turns.acquire_owned().await.ok(); // never closed
        turn
    }

    /// Accounts with an attempt in progress or waiting.
    pub fn accounts_in_use(&self) -> usize {
        self.accounts().len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut accounts = self.gate.accounts();
        if let Some(entry) = accounts.get_mut(&self.account) {
            entry.users -= 1;
            if entry.users == 0 {
                accounts.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_account_gets_at_most_its_turns_and_others_are_not_held_up() {
        let gate = LoginGate::new(2);
        let (a, b) = (gate.enter("alice").await, gate.enter("alice").await);
        let third = gate.enter("alice");
        let mut third = std::pin::pin!(third);
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut third).await.is_err(), "waits");
        let other = gate.enter("bob").await;
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(1), third).await.expect("a freed turn is taken");
        drop((b, c, other));
        assert_eq!(gate.accounts_in_use(), 0);
    }

    #[tokio::test]
    async fn an_abandoned_wait_leaves_nothing_behind() {
        let gate = LoginGate::new(1);
        let held = gate.enter("carol").await;
        assert!(tokio::time::timeout(Duration::from_millis(20), gate.enter("carol")).await.is_err());
        drop(held);
        assert_eq!(gate.accounts_in_use(), 0);
    }
}
