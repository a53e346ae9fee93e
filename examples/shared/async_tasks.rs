//! The interop tasks as async functions, shared by the tokio and smol example bundles: each
//! bundle includes this file after bringing its adapter's prelude into scope as `prelude`.
//! The std bundle has the same tasks as plain functions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::interop_support::{self, LoadFailed, WarehouseDown};
use crate::prelude::*;

/// Registers the `interop` DAG.
pub fn interop(dag: sdk::DagBuilder<Handler>) -> sdk::DagBuilder<Handler> {
    dag.task("extract", extract)
        .task("load", load)
        .task("fail", fail)
        .task("retry", retry)
        .task("skip", skip)
        .task("panic", panic)
        .task("defer", defer)
        .on_resume("resume_after_wait", resume_after_wait)
        .task("api_error", api_error)
        .task("missing_variable", missing_variable)
        .task("env_variable", env_variable)
        .task("secrets", secrets)
        .task("log_levels", log_levels)
        .task("log_fields", log_fields)
        .task("wait_for_sigterm", wait_for_sigterm)
        .task("slow_request", slow_request)
        .task("reschedule", reschedule)
        .task("join_variables", join_variables)
        .task("blocking_extract", blocking_extract)
        .task("bench_small", bench_small)
        .task("bench_round_trips", bench_round_trips)
}

/// What `extract` returns and `load` reads.
#[derive(Debug, Serialize, Deserialize)]
struct Extracted {
    source: String,
    host: String,
    rows: Vec<u32>,
}

async fn extract(ctx: TaskContext) -> Result<Extracted, TaskError> {
    let source = ctx.get_variable("source_path").await?;
    let warehouse = ctx.get_connection("warehouse").await?;
    let host = warehouse.host.clone().unwrap_or_default();
    tracing::info!(%source, %host, "extracting");
    Ok(Extracted {
        source,
        host,
        rows: vec![3, 1, 2],
    })
}

// A plain function in an async bundle: it runs on a blocking thread and waits on the client.
fn blocking_extract(ctx: &TaskContext) -> Result<String, TaskError> {
    let source = ctx.get_variable("source_path").wait()?;
    tracing::info!(%source, "extracting on a blocking thread");
    Ok(source)
}

async fn load(ctx: TaskContext) -> Result<u32, TaskError> {
    let extracted: Extracted = ctx
        .xcom_pull("extract", "return_value")
        .await?
        .ok_or_else(|| TaskError::msg("extract pushed nothing"))?;
    let total: u32 = extracted.rows.iter().sum();
    ctx.xcom_push("row_count", &extracted.rows.len()).await?;
    tracing::info!(total, rows = extracted.rows.len(), "loaded");
    Ok(total)
}

async fn fail(_ctx: TaskContext) -> Result<(), LoadFailed> {
    Err(LoadFailed(WarehouseDown))
}

async fn retry(_ctx: TaskContext) -> Result<(), TaskError> {
    Err(TaskError::retry()
        .after(Duration::from_secs(30))
        .because("upstream not ready"))
}

async fn skip(_ctx: TaskContext) -> Result<(), TaskError> {
    Err(TaskError::skip("nothing to do today"))
}

async fn panic(_ctx: TaskContext) -> Result<(), TaskError> {
    panic!("kaboom: index out of range");
}

async fn defer(_ctx: TaskContext) -> Result<(), TaskError> {
    let wake_at = Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").map_err(TaskError::failure)?;
    Err(TaskError::defer(
        Defer::until(wake_at, "resume_after_wait")
            .next_kwarg("attempt", 1)
            .timeout(Duration::from_secs(3600)),
    ))
}

async fn resume_after_wait(ctx: TaskContext) -> Result<String, TaskError> {
    let resume = ctx.resume().ok_or_else(|| TaskError::msg("not resumed"))?;
    tracing::info!(method = %resume.method, kwargs = %JsonValue::Object(resume.kwargs.clone()), "resumed");
    Ok(format!("resumed via {}", resume.method))
}

async fn api_error(ctx: TaskContext) -> Result<(), TaskError> {
    match ctx.set_variable("conflicting", "x", None).await {
        Err(ClientError::Api {
            status, message, ..
        }) => {
            tracing::error!(status = status.unwrap_or(0), api_message = %message, "the API refused the write");
            Err(TaskError::msg(format!(
                "writing the variable failed with HTTP {}",
                status.unwrap_or(0)
            )))
        }
        Err(other) => Err(other.into()),
        Ok(()) => Err(TaskError::msg("the write should have failed")),
    }
}

async fn missing_variable(ctx: TaskContext) -> Result<String, TaskError> {
    match ctx.get_variable("does_not_exist").await {
        Err(e) if e.is_not_found() => {
            tracing::warn!(error = %e, "variable missing; using the default");
            Ok("default".to_owned())
        }
        Err(e) => Err(e.into()),
        Ok(value) => Ok(value),
    }
}

async fn env_variable(ctx: TaskContext) -> Result<String, TaskError> {
    let value = ctx.get_variable("from_env").await?;
    tracing::info!(value = %value, "read a variable from the environment");
    Ok(value.len().to_string())
}

async fn secrets(ctx: TaskContext) -> Result<(), TaskError> {
    let conn = ctx.get_connection("warehouse").await?;
    let password = conn.password().unwrap_or_default();
    tracing::info!("connecting with password {password}");
    tracing::info!(?conn, "connection debug output hides secrets");
    Ok(())
}

async fn log_levels(_ctx: TaskContext) -> Result<(), TaskError> {
    interop_support::emit_log_levels();
    Ok(())
}

async fn log_fields(_ctx: TaskContext) -> Result<(), TaskError> {
    interop_support::emit_log_fields();
    Ok(())
}

async fn wait_for_sigterm(ctx: TaskContext) -> Result<(), TaskError> {
    tracing::info!("waiting for SIGTERM");
    // SIGTERM drops this future: nothing after the sleep runs.
    ctx.sleep(Duration::from_secs(15)).await;
    Ok(())
}

async fn slow_request(ctx: TaskContext) -> Result<String, TaskError> {
    Ok(ctx.get_variable("slow").await?)
}

async fn reschedule(_ctx: TaskContext) -> Result<(), TaskError> {
    let again = Timestamp::parse_rfc3339("2030-01-01T00:05:00Z").map_err(TaskError::failure)?;
    Err(TaskError::reschedule(again))
}

// Three reads in flight at once, each answer routed to its caller by request id.
async fn join_variables(ctx: TaskContext) -> Result<Vec<String>, TaskError> {
    let (a, (b, c)) = futures_lite::future::zip(
        ctx.get_variable("a"),
        futures_lite::future::zip(ctx.get_variable("b"), ctx.get_variable("c")),
    )
    .await;
    Ok(vec![a?, b?, c?])
}

// `scripts/bench`: one variable read, its value pushed as XCom `return_value`.
async fn bench_small(ctx: TaskContext) -> Result<String, TaskError> {
    Ok(ctx.get_variable("bench_value").await?)
}

// `scripts/bench`: times `bench_requests` variable reads, one at a time (nanoseconds each).
async fn bench_round_trips(ctx: TaskContext) -> Result<Vec<u64>, TaskError> {
    let n: usize = ctx
        .get_variable("bench_requests")
        .await?
        .parse()
        .map_err(TaskError::failure)?;
    let mut nanos = Vec::with_capacity(n);
    for _ in 0..n {
        let start = std::time::Instant::now();
        ctx.get_variable("bench_value").await?;
        nanos.push(start.elapsed().as_nanos() as u64);
    }
    Ok(nanos)
}
