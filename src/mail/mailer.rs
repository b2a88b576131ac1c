//! The mailer as the rest of the service sees it.

/// Whether email goes out, and where its links point (Rocket state).
#[derive(Debug, Clone, Default)]
pub struct Mail {
    enabled: bool,
    app_url: Option<String>,
}

impl Mail {
    /// A mailer that sends nothing (email not configured).
    pub fn off() -> Mail {
        Mail::default()
    }

    /// A mailer that sends, its links pointing at the app's `app_url` (when there is one).
    pub fn on(app_url: Option<String>) -> Mail {
        Mail {
            enabled: true,
            app_url,
        }
    }

    /// Whether email is configured: queue what must be sent instead of answering with it.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The app's page `path` with `token` in its query, when the app's address is configured.
    pub fn link(&self, path: &str, token: Option<&str>) -> Option<String> {
        let base = self.app_url.as_deref()?;
        Some(match token {
            Some(token) => format!("{base}{path}?token={token}"),
            None => format!("{base}{path}"),
        })
    }
}
