//! The two halves of a mutation: a plan, computed against the current state
//! without changing it, and its application.

use super::change::Change;

/// What a `plan_*` call decided.
#[derive(Debug)]
pub enum Plan<P: Pending> {
    /// Nothing to change (an idempotent retry): the answer as it stands.
    Done(P::Output),
    /// Changes to make durable, then apply.
    Apply(P),
}

/// A validated change waiting to be applied.
pub trait Pending {
    /// What the mutation returns once applied.
    type Output;
    /// The durable facts this change amounts to.
    fn changes(&self) -> Vec<Change>;
}
