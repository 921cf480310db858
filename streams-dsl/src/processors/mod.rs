//! The processors behind the DSL's operators. Each holds its user function behind an `Arc`
//! shared by every task's instance, and calls it directly (no boxing per call).

pub(crate) mod aggregate;
pub(crate) mod join;
pub(crate) mod stateless;
pub(crate) mod table;
