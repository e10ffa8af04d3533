//! `serve` and `migrate`.

use crate::config::Settings;
use crate::state::AppState;

/// Binds the listeners, then runs the server until a shutdown signal.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", settings.bind))?;
    let app = AppState::init(settings).await?;
    crate::state::spawn_key_refresh(app.clone());
    crate::state::spawn_purge(app.clone());
    if !app.settings.metrics_bind.is_empty() {
        let ml = tokio::net::TcpListener::bind(&app.settings.metrics_bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind metrics_bind {}: {e}", app.settings.metrics_bind))?;
        let router = crate::http::metrics_routes(app.clone());
        let limits = crate::http::server::ConnLimits::from_settings(&app.settings);
        tokio::spawn(crate::http::server::serve(ml, router, limits, std::future::pending()));
        // The target these lines had before cli/ was split (README shows it).
        tracing::info!(target: "oauthd::cli", bind = %app.settings.metrics_bind, "metrics listening");
    }
    if !app.settings.admin_bind.is_empty() {
        let al = tokio::net::TcpListener::bind(&app.settings.admin_bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind admin_bind {}: {e}", app.settings.admin_bind))?;
        let router = crate::http::admin_router(app.clone())?;
        let limits = crate::http::server::ConnLimits::from_settings(&app.settings);
        tokio::spawn(crate::http::server::serve(al, router, limits, std::future::pending()));
        tracing::info!(target: "oauthd::cli", bind = %app.settings.admin_bind, "admin API listening");
    }
    tracing::info!(target: "oauthd::cli", bind = %app.settings.bind, issuer = %app.settings.issuer, "oauthd listening");
    crate::http::serve(listener, app).await
}

/// Opening the store applies the migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    super::open(settings).await?;
    eprintln!("migrations applied");
    Ok(())
}
