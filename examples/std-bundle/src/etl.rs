//! The ETL example on the blocking adapter: extract orders, transform them into totals per
//! region, load the totals. Data moves between the tasks through XCom.

use airflow_sdk_std::prelude::*;

use crate::etl_logic::{self, CredentialsRejected, LoadFailed, LoadReport, Order, RegionTotal};

/// Adds the tasks of the `etl_std` DAG.
pub fn etl(
    dag: airflow_sdk_std::sdk::DagBuilder<Handler>,
) -> airflow_sdk_std::sdk::DagBuilder<Handler> {
    dag.task("extract", extract)
        .task("transform", transform)
        .task("load", load)
}

/// Adds the task of the `etl_failure_std` DAG: a load whose credentials are refused.
pub fn etl_failure(
    dag: airflow_sdk_std::sdk::DagBuilder<Handler>,
) -> airflow_sdk_std::sdk::DagBuilder<Handler> {
    dag.task("load", load_with_rejected_credentials)
}

type Handler = airflow_sdk_std::sdk::TaskHandler<airflow_sdk_std::StdRuntime>;

fn extract(ctx: &TaskContext) -> Result<Vec<Order>, TaskError> {
    let batch_size = match ctx.get_variable("etl_batch_size") {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|e| TaskError::msg(format!("etl_batch_size {text:?}: {e}")))?,
        Err(e) if e.is_not_found() => {
            tracing::warn!(
                default = etl_logic::DEFAULT_BATCH_SIZE,
                "etl_batch_size is not set; using the default"
            );
            etl_logic::DEFAULT_BATCH_SIZE
        }
        Err(e) => return Err(e.into()),
    };
    let source = ctx.get_connection("etl_source")?;
    let orders = etl_logic::generate_orders(batch_size, &ctx.ti().run_id);
    tracing::info!(
        source = source.host.as_deref().unwrap_or(""),
        orders = orders.len(),
        "extracted orders"
    );
    Ok(orders)
}

fn transform(ctx: &TaskContext) -> Result<Vec<RegionTotal>, TaskError> {
    let orders: Vec<Order> = ctx
        .xcom_pull("extract", "return_value")?
        .ok_or_else(|| TaskError::msg("extract pushed no orders"))?;
    let totals = etl_logic::summarize(&orders);
    for total in &totals {
        tracing::info!(region = %total.region, orders = total.orders, amount_cents = total.amount_cents, "region total");
    }
    Ok(totals)
}

fn load(ctx: &TaskContext) -> Result<LoadReport, TaskError> {
    let totals: Vec<RegionTotal> = ctx
        .xcom_pull("transform", "return_value")?
        .ok_or_else(|| TaskError::msg("transform pushed no totals"))?;
    let warehouse = ctx.get_connection("etl_warehouse")?;
    let table = format!(
        "{}.region_totals",
        warehouse.schema.as_deref().unwrap_or("public")
    );
    let report = etl_logic::load_report(&table, &totals);
    ctx.xcom_push("loaded_rows", &report.rows)?;
    tracing::info!(host = warehouse.host.as_deref().unwrap_or(""), table = %report.table, rows = report.rows, "loaded");
    Ok(report)
}

fn load_with_rejected_credentials(ctx: &TaskContext) -> Result<LoadReport, LoadFailed> {
    let host = ctx
        .get_connection("etl_warehouse")
        .ok()
        .and_then(|c| c.host)
        .unwrap_or_else(|| "warehouse".to_owned());
    Err(LoadFailed {
        table: "public.region_totals".to_owned(),
        cause: CredentialsRejected { host },
    })
}
