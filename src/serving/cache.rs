//! Per-backend cache of loaded pipelines.
//!
//! Two levels with two invalidation rules:
//! - Loaded pipelines, keyed by pipeline id and the row's version (xmin and ctid), in a
//!   small LRU. The extension never updates a row of `retrain.pipelines` and never reuses
//!   an id; the row version catches a row changed by hand, and a row that disappeared (a
//!   rolled-back or deleted training) is caught by the per-statement lookup below.
//! - What each name or id resolves to, valid for one statement only. The first call in a
//!   statement looks the name up again, so a deployment, rollback or training committed by
//!   any backend is served from the next statement on, and an id whose row is no longer
//!   visible (its training rolled back) is refused.
//!
//! A backend is single-threaded, so a thread-local is all the synchronization needed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::pg_sys;

use crate::pipeline::artifact::FittedPipeline;

/// Pipelines kept loaded per backend. A scoring query rarely touches more than a few; a
/// pipeline of 100 features takes a few KiB, the largest allowed a few MiB.
const LOADED_PIPELINES: usize = 16;

/// Identifies the current statement: a new transaction, a new top-level statement, a new
/// command within a function (after a write) or another subtransaction each change it. The
/// subtransaction matters because rolling one back leaves the command counter where it was:
/// without it, a name resolved inside a rolled-back block would still count as current.
/// The snapshot's xmax changes whenever the snapshot in use can see a transaction that
/// committed since, so a function issuing several queries sees other sessions' commits
/// exactly when its queries do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct StatementKey {
    local_xid: u32,
    statement_start: i64,
    command_id: u32,
    subtransaction: u32,
    snapshot_xmax: u32,
}

impl StatementKey {
    fn current() -> Self {
        // SAFETY: plain reads of backend-local transaction state.
        unsafe {
            Self {
                local_xid: (*pg_sys::MyProc).lxid,
                statement_start: pg_sys::GetCurrentStatementStartTimestamp(),
                command_id: pg_sys::GetCurrentCommandId(false),
                subtransaction: pg_sys::GetCurrentSubTransactionId(),
                snapshot_xmax: if pg_sys::ActiveSnapshotSet() {
                    (*pg_sys::GetActiveSnapshot()).xmax.into_inner()
                } else {
                    0
                },
            }
        }
    }
}

/// What a name or id resolved to in this statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lookup {
    Name,
    Id,
}

#[derive(Default)]
struct ServingCache {
    statement: StatementKey,
    /// (kind, name or id as text) → pipeline id or row version, for this statement only.
    resolved: HashMap<(Lookup, String), String>,
    /// Keyed by (pipeline id, row version); most recently used last.
    loaded: Vec<((i64, String), Rc<FittedPipeline>)>,
}

thread_local! {
    static CACHE: RefCell<ServingCache> = RefCell::new(ServingCache::default());
}

/// The pipeline id `key` resolved to earlier in this statement, or `resolve()`'s answer,
/// remembered for the rest of the statement.
pub fn resolve_in_statement(kind: Lookup, key: &str, resolve: impl FnOnce() -> String) -> String {
    let now = StatementKey::current();
    let hit = CACHE.with_borrow_mut(|cache| {
        if cache.statement != now {
            cache.statement = now;
            cache.resolved.clear();
        }
        cache.resolved.get(&(kind, key.to_string())).cloned()
    });
    if let Some(id) = hit {
        return id;
    }
    // Resolving runs SPI and may raise an ERROR: no borrow is held across it.
    let id = resolve();
    CACHE.with_borrow_mut(|cache| cache.resolved.insert((kind, key.to_string()), id.clone()));
    id
}

/// The loaded pipeline `(id, row version)`, loading it with `load()` on a miss.
pub fn loaded(id: (i64, String), load: impl FnOnce() -> FittedPipeline) -> Rc<FittedPipeline> {
    let hit = CACHE.with_borrow_mut(|cache| {
        let at = cache.loaded.iter().position(|(k, _)| *k == id)?;
        let entry = cache.loaded.remove(at);
        let pipeline = Rc::clone(&entry.1);
        cache.loaded.push(entry);
        Some(pipeline)
    });
    if let Some(pipeline) = hit {
        return pipeline;
    }
    let pipeline = Rc::new(load());
    CACHE.with_borrow_mut(|cache| {
        if cache.loaded.len() >= LOADED_PIPELINES {
            cache.loaded.remove(0);
        }
        cache.loaded.push((id, Rc::clone(&pipeline)));
    });
    pipeline
}
