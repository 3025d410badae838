//! How much a run may delete of what it manages before it stops and asks.
//!
//! An empty `selectors.yml`, a wrong `source:` folder or a half-built `build/dags` look like
//! "every DAG is gone", and pruning would empty production Composer. So a `dags` run or a
//! sync that would remove everything it manages, or more than a share of it (`max_prune`,
//! 50% unless set), stops before it changes anything, and says how to go ahead
//! (`--allow-prune`). Removing a single file (a DAG renamed) never stops.

/// The share of managed files a run may remove, in percent (`max_prune`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PruneLimit {
    pub percent: u8,
}

impl Default for PruneLimit {
    fn default() -> Self {
        PruneLimit { percent: 50 }
    }
}

/// A removal past the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this would remove {removing} of the {managed} files dagship manages at {place} ({}); \
     nothing was changed: check the input, or pass `--allow-prune` to remove them{}",
    reason(*removing, *managed, *keeping),
    limit_hint(self)
)]
pub struct TooMuchPruning {
    pub place: String,
    pub removing: usize,
    pub managed: usize,
    /// Files that remain or are written.
    pub keeping: usize,
    pub limit: PruneLimit,
}

fn reason(removing: usize, managed: usize, keeping: usize) -> String {
    if keeping == 0 {
        "every one, and nothing would replace them".to_string()
    } else {
        format!("{}%", removing * 100 / managed.max(1))
    }
}

fn limit_hint(stop: &TooMuchPruning) -> String {
    if stop.keeping == 0 {
        String::new()
    } else {
        format!(" (or raise `max_prune`, now {}%)", stop.limit.percent)
    }
}

impl PruneLimit {
    /// Whether removing `removing` of `managed` files, with `keeping` files there afterwards,
    /// stays within the limit.
    pub fn check(
        self,
        place: &str,
        removing: usize,
        managed: usize,
        keeping: usize,
    ) -> Result<(), TooMuchPruning> {
        let everything = removing > 0 && keeping == 0;
        let too_many = removing > 1 && removing * 100 > managed * usize::from(self.percent);
        if everything || too_many {
            return Err(TooMuchPruning {
                place: place.to_string(),
                removing,
                managed,
                keeping,
                limit: self,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_everything_or_past_the_share_but_not_at_one_file() {
        let limit = PruneLimit::default();
        assert!(
            limit.check("d", 4, 4, 0).is_err(),
            "everything, nothing left"
        );
        assert!(
            limit.check("d", 1, 1, 0).is_err(),
            "the only one, nothing left"
        );
        assert!(limit.check("d", 1, 1, 1).is_ok(), "one DAG renamed");
        assert!(limit.check("d", 2, 4, 2).is_ok(), "half");
        assert!(limit.check("d", 3, 4, 1).is_err(), "more than half");
        assert!(PruneLimit { percent: 100 }.check("d", 3, 4, 1).is_ok());
        let stop = limit.check("out/", 3, 4, 1).unwrap_err().to_string();
        assert!(
            stop.contains("remove 3 of the 4 files dagship manages at out/ (75%)")
                && stop.contains("--allow-prune")
                && stop.contains("`max_prune`, now 50%"),
            "{stop}"
        );
    }
}
