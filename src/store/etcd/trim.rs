//! Keeping etcd's copy of the operation log bounded. Each node keeps the
//! last [`crate::registry::OPERATION_LOG_CAPACITY`] operations in memory,
//! but every operation is also a key in etcd (so GetOperation answers on
//! any node), and nothing else ever deletes one. The health leader — one
//! node at a time, so the work is done once — counts them now and then
//! and deletes the oldest (by creation revision) beyond the configured
//! number. Followers ignore the deletions: their own logs are bounded.

use etcd_client::{Client, GetOptions, SortOrder, SortTarget, Txn, TxnOp};

use super::MAX_TXN_OPS;
use super::keys::Keys;

/// Keys deleted per round at most: a backlog goes in steps.
const PER_ROUND: i64 = 10_000;

/// Deletes the oldest operations beyond `keep`; returns how many.
pub(super) async fn operations(
    client: &Client,
    keys: &Keys,
    keep: usize,
) -> Result<usize, etcd_client::Error> {
    let mut kv = client.kv_client();
    let prefix = keys.operation("");
    let counted = kv
        .get(
            prefix.clone(),
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await?;
    let excess = counted.count() - keep as i64;
    if excess <= 0 {
        return Ok(0);
    }
    let oldest = kv
        .get(
            prefix,
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_keys_only()
                    .with_sort(SortTarget::Create, SortOrder::Ascend)
                    .with_limit(excess.min(PER_ROUND)),
            ),
        )
        .await?;
    let mut deleted = 0;
    for chunk in oldest.kvs().chunks(MAX_TXN_OPS) {
        let deletes: Vec<TxnOp> = chunk
            .iter()
            .map(|pair| TxnOp::delete(pair.key(), None))
            .collect();
        kv.txn(Txn::new().and_then(deletes)).await?;
        deleted += chunk.len();
    }
    Ok(deleted)
}
