//! The business logic of the ETL example, shared by the std, tokio and smol bundles: plain
//! Rust with no SDK in it. Each bundle wraps it in its own task functions.

use serde::{Deserialize, Serialize};

/// One order, as extracted from the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order number.
    pub id: u32,
    /// Sales region.
    pub region: String,
    /// Amount in cents.
    pub amount_cents: i64,
}

/// Totals of one region, as transformed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionTotal {
    /// Sales region.
    pub region: String,
    /// Number of orders.
    pub orders: u32,
    /// Sum of the amounts, in cents.
    pub amount_cents: i64,
}

/// What the load step wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The table written.
    pub table: String,
    /// Rows written.
    pub rows: usize,
    /// Sum of all amounts, in cents.
    pub total_cents: i64,
}

const REGIONS: [&str; 3] = ["emea", "amer", "apac"];

/// A deterministic batch of orders for a run: the same run id always gives the same batch.
pub fn generate_orders(batch_size: usize, run_id: &str) -> Vec<Order> {
    let mut state = run_id
        .bytes()
        .fold(0x9e37_79b9_u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    (0..batch_size)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            Order {
                id: i as u32 + 1,
                region: REGIONS[(state >> 33) as usize % REGIONS.len()].to_owned(),
                amount_cents: 500 + (state >> 40) as i64 % 20_000,
            }
        })
        .collect()
}

/// Totals per region, sorted by region.
pub fn summarize(orders: &[Order]) -> Vec<RegionTotal> {
    let mut totals: Vec<RegionTotal> = Vec::new();
    for order in orders {
        match totals.iter_mut().find(|t| t.region == order.region) {
            Some(total) => {
                total.orders += 1;
                total.amount_cents += order.amount_cents;
            }
            None => totals.push(RegionTotal {
                region: order.region.clone(),
                orders: 1,
                amount_cents: order.amount_cents,
            }),
        }
    }
    totals.sort_by(|a, b| a.region.cmp(&b.region));
    totals
}

/// What loading `totals` into `table` writes.
pub fn load_report(table: &str, totals: &[RegionTotal]) -> LoadReport {
    LoadReport {
        table: table.to_owned(),
        rows: totals.len(),
        total_cents: totals.iter().map(|t| t.amount_cents).sum(),
    }
}

/// The warehouse refused the credentials (the failure example).
#[derive(Debug)]
pub struct CredentialsRejected {
    /// The host that refused them.
    pub host: String,
}

impl std::fmt::Display for CredentialsRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rejected the credentials", self.host)
    }
}

impl std::error::Error for CredentialsRejected {}

/// Loading failed (the failure example's error, with its cause).
#[derive(Debug)]
pub struct LoadFailed {
    /// The table that was not written.
    pub table: String,
    /// Why.
    pub cause: CredentialsRejected,
}

impl std::fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "loading {} failed", self.table)
    }
}

impl std::error::Error for LoadFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// The default batch size when the `etl_batch_size` variable is not set.
pub const DEFAULT_BATCH_SIZE: usize = 12;
