//! The two sides of a task run's conversation.

pub(crate) mod supervisor;
pub(crate) mod task;
