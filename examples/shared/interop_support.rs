//! What the interop tasks of every example bundle share: their error types and the log
//! lines the logging scenarios check. Plain Rust, included by each bundle.

#[derive(Debug)]
pub struct WarehouseDown;

impl std::fmt::Display for WarehouseDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("warehouse refused the connection")
    }
}

impl std::error::Error for WarehouseDown {}

#[derive(Debug)]
pub struct LoadFailed(pub WarehouseDown);

impl std::fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading the batch failed")
    }
}

impl std::error::Error for LoadFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// The lines the log-level scenarios filter.
pub fn emit_log_levels() {
    tracing::trace!("a trace line");
    tracing::debug!("a debug line");
    tracing::info!("an info line");
    tracing::warn!("a warning line");
    tracing::error!("an error line");
    tracing::debug!(target: "noisy::module", "a noisy debug line");
    tracing::warn!(target: "noisy::module", "a noisy warning line");
    log::info!(target: "example_log_target", "an info line from the log crate");
    log::debug!(target: "example_log_target", "a debug line from the log crate");
}

/// A line whose fields collide with the supervisor's keys, and a line inside a span.
pub fn emit_log_fields() {
    tracing::info!(
        msg = "user msg",
        "target" = "user target",
        "self" = "user self",
        "level" = "user level",
        "timestamp" = 7,
        "logger" = "user logger",
        "exception" = "user exception",
        count = 3,
        ratio = 0.5,
        ok = true,
        "fields that collide with reserved keys"
    );
    let span = tracing::info_span!("batch", batch_id = 42);
    let _guard = span.enter();
    tracing::info!(item = "a", "inside a span");
}
