//! # tse-puml: a traced operation as a PlantUML sequence diagram
//!
//! `tse` records what ran ([`tse::Tracer`], one [`Span`] per named task
//! or step); this crate draws it. It lives outside the engine because no
//! engine code needs it: only the programs and tests that show a trace
//! (`obj::trace`, `seed_write`, `obj_tour`) depend on it.
//!
//! The seed document `daos-write-flow.puml` draws the DAOS write path as a
//! sequence diagram: one lifeline per layer (`dfs`, `array`, `obj`,
//! `daos_engine`, `srv_obj`, `spdk`, ...), a call arrow labelled with each
//! step's name, and the replies unwinding the same stack. [`render`] draws
//! what a [`Tracer`](tse::Tracer) recorded in the same shape, so a traced
//! operation can be laid next to the seed and compared step by step:
//!
//! * each span of the chosen subtree becomes a call arrow from its parent's
//!   lifeline to its own, labelled `name (D us)` with its duration, then an
//!   `activate`, its children (depth-first, by start time), a return arrow
//!   labelled `name rc=ok` (or `rc=<status>`) and a `deactivate`;
//! * the caller decides which lifeline a span runs on (layer, scheduler,
//!   engine target...), and lifelines are declared in order of first
//!   appearance;
//! * the root span is called from [`ROOT_CALLER`] (or the caller given to
//!   [`render_with_caller`]).
//!
//! The walk uses an explicit stack, so chains of any depth render without
//! recursion, and a cycle in the parent links is reported as an error.
//! A task that ran more than once (re-initialised and completed again) has
//! one span per run; a child is attached to the latest run of its parent
//! that started no later than the child.
//!
//! ```
//! use tse::{Sched, Tracer};
//!
//! let s = Sched::new();
//! let tracer = Tracer::new();
//! s.set_tracer("client", Some(tracer.clone()));
//! let write = s.create_named("dfs_write", |t| {
//!     let update = t.sched().create_named("dc_obj_update", |u| u.complete(0));
//!     t.register_dep(&update).unwrap();
//!     update.schedule(false).unwrap();
//! });
//! write.schedule(false).unwrap();
//! assert_eq!(s.progress_until(&write), 0);
//!
//! let spans = tracer.spans();
//! let root = spans.iter().find(|s| s.name == "dfs_write").unwrap().id;
//! let puml = tse_puml::render(&spans, root, &|s| s.sched.to_string()).unwrap();
//! assert!(puml.starts_with("@startuml"));
//! assert!(puml.contains("app -> client : dfs_write ("));
//! assert!(puml.contains("client -> client : dc_obj_update ("));
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;

use tse::Span;

/// The lifeline the root span is called from by [`render`].
pub const ROOT_CALLER: &str = "app";

/// Why a trace could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PumlError {
    /// No span has the requested root id.
    #[error("root span {root} is not among the {count} traced spans")]
    UnknownRoot {
        /// The requested root id.
        root: u64,
        /// How many spans were given.
        count: usize,
    },
    /// The parent links lead back to a span already drawn, so the spans do
    /// not form a tree below the root.
    #[error("parent links form a cycle through span {id} ({name})")]
    Cycle {
        /// The id of the span reached a second time.
        id: u64,
        /// Its name.
        name: &'static str,
    },
}

/// Renders the subtree of `spans` rooted at span id `root` as a PlantUML
/// sequence diagram, the root being called from [`ROOT_CALLER`] (`app`).
///
/// `participant` names the lifeline a span runs on (e.g. `dfs`,
/// `obj client`, `engine tgt1`, `vos`); it is called once per span drawn.
/// See [`render_with_caller`] for the details.
pub fn render(
    spans: &[Span],
    root: u64,
    participant: &dyn Fn(&Span) -> String,
) -> Result<String, PumlError> {
    render_with_caller(spans, root, ROOT_CALLER, participant)
}

/// Renders the subtree of `spans` rooted at span id `root` as a PlantUML
/// sequence diagram (`@startuml` ... `@enduml`, titled with the root's
/// name), the root being called from the lifeline `caller`.
///
/// The subtree is the root plus every span whose `parent` chain leads to
/// it; other spans are left out. It is walked depth-first with children
/// ordered by `(start_ns, id)`. If several spans carry the root's id (a
/// task that ran more than once), each is drawn as a call from `caller`.
///
/// # Errors
///
/// [`PumlError::UnknownRoot`] if no span has id `root`;
/// [`PumlError::Cycle`] if the parent links loop back into the subtree.
pub fn render_with_caller(
    spans: &[Span],
    root: u64,
    caller: &str,
    participant: &dyn Fn(&Span) -> String,
) -> Result<String, PumlError> {
    // Every run of every id, by start time.
    let mut by_id: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        by_id.entry(s.id).or_default().push(i);
    }
    for runs in by_id.values_mut() {
        runs.sort_by_key(|&i| (spans[i].start_ns, i));
    }

    // Each span hangs below one run of its parent.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    for (i, s) in spans.iter().enumerate() {
        if s.parent == 0 {
            continue;
        }
        if let Some(runs) = by_id.get(&s.parent) {
            let started = runs.partition_point(|&r| spans[r].start_ns <= s.start_ns);
            children[runs[started.saturating_sub(1)]].push(i);
        }
    }
    for kids in &mut children {
        kids.sort_by_key(|&i| (spans[i].start_ns, spans[i].id, i));
    }

    let roots = by_id.get(&root).ok_or(PumlError::UnknownRoot {
        root,
        count: spans.len(),
    })?;

    let mut lanes = Lanes::default();
    let from_caller = lanes.lane(caller);
    let mut lane_of: Vec<Option<usize>> = vec![None; spans.len()];
    let mut drawn = vec![false; spans.len()];
    let mut body = String::new();

    enum Step {
        Call { span: usize, from: usize },
        Return { span: usize, from: usize },
    }
    let mut stack: Vec<Step> = roots
        .iter()
        .rev()
        .map(|&span| Step::Call {
            span,
            from: from_caller,
        })
        .collect();

    while let Some(step) = stack.pop() {
        match step {
            Step::Call { span, from } => {
                let s = &spans[span];
                if std::mem::replace(&mut drawn[span], true) {
                    return Err(PumlError::Cycle {
                        id: s.id,
                        name: s.name,
                    });
                }
                let to = lanes.lane(&participant(s));
                lane_of[span] = Some(to);
                let (a, b) = (lanes.alias(from), lanes.alias(to));
                let _ = writeln!(
                    body,
                    "{a} -> {b} : {} ({})",
                    label(s.name),
                    micros(s.end_ns.saturating_sub(s.start_ns))
                );
                let _ = writeln!(body, "activate {b}");
                stack.push(Step::Return { span, from });
                stack.extend(children[span].iter().rev().map(|&child| Step::Call {
                    span: child,
                    from: to,
                }));
            }
            Step::Return { span, from } => {
                let s = &spans[span];
                let to = lane_of[span].expect("a span returns after its call");
                let (a, b) = (lanes.alias(from), lanes.alias(to));
                let _ = writeln!(body, "{b} --> {a} : {} {}", label(s.name), status(s.rc));
                let _ = writeln!(body, "deactivate {b}");
            }
        }
    }

    let title = spans[roots[0]].name;
    let mut out = String::with_capacity(body.len() + 64 * (lanes.names.len() + 2));
    out.push_str("@startuml\n\n");
    let _ = writeln!(out, "title {}\n", label(title));
    for (name, alias) in &lanes.names {
        if name == alias {
            let _ = writeln!(out, "participant {alias}");
        } else {
            let _ = writeln!(out, "participant \"{}\" as {alias}", name.replace('"', "'"));
        }
    }
    out.push('\n');
    out.push_str(&body);
    out.push_str("\n@enduml\n");
    Ok(out)
}

/// The lifelines met so far, in order of first appearance, each with the
/// identifier the diagram uses for it.
#[derive(Default)]
struct Lanes {
    names: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Lanes {
    /// The lane called `name`, declared now if it is new.
    fn lane(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let base = identifier(name);
        let mut alias = base.clone();
        let mut n = 2;
        while self.names.iter().any(|(_, a)| *a == alias) {
            alias = format!("{base}_{n}");
            n += 1;
        }
        self.names.push((name.to_owned(), alias));
        self.index.insert(name.to_owned(), self.names.len() - 1);
        self.names.len() - 1
    }

    fn alias(&self, lane: usize) -> &str {
        &self.names[lane].1
    }
}

/// A PlantUML-safe identifier for a lifeline name (`obj client` ->
/// `obj_client`).
fn identifier(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "activate",
        "alt",
        "as",
        "autonumber",
        "box",
        "deactivate",
        "destroy",
        "else",
        "end",
        "group",
        "loop",
        "note",
        "opt",
        "par",
        "participant",
        "ref",
        "return",
        "title",
    ];
    let mut id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert_str(0, "p_");
    }
    if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&id)) {
        id.push('_');
    }
    id
}

/// A step name as a one-line message label.
fn label(name: &str) -> String {
    name.replace('\r', "").replace('\n', "\\n")
}

/// A duration in ns as microseconds with one decimal (`12.3 us`).
fn micros(ns: u64) -> String {
    let tenths = ns.saturating_add(50) / 100;
    format!("{}.{} us", tenths / 10, tenths % 10)
}

/// A task status as a return label.
fn status(rc: i32) -> String {
    if rc == 0 {
        "rc=ok".to_owned()
    } else {
        format!("rc={rc}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u64, parent: u64, name: &'static str, sched: &'static str, start: u64) -> Span {
        Span {
            id,
            parent,
            name,
            sched,
            start_ns: start,
            end_ns: start + 1_000,
            rc: 0,
        }
    }

    /// Lifeline = the span's scheduler label.
    fn by_sched(s: &Span) -> String {
        s.sched.to_owned()
    }

    /// The diagram lines between the declarations and `@enduml`.
    fn body(out: &str) -> Vec<&str> {
        out.lines()
            .filter(|l| {
                l.contains("->") || l.starts_with("activate") || l.starts_with("deactivate")
            })
            .collect()
    }

    #[test]
    fn frame_title_and_duration() {
        let mut root = span(7, 0, "dc_obj_update", "client", 1_000);
        root.end_ns = 13_300;
        let out = render(&[root], 7, &by_sched).unwrap();
        assert!(out.starts_with("@startuml\n"));
        assert!(out.ends_with("@enduml\n"));
        assert!(out.contains("\ntitle dc_obj_update\n"));
        assert!(out.contains("app -> client : dc_obj_update (12.3 us)\n"));
    }

    #[test]
    fn participants_declared_once_in_first_appearance_order() {
        let spans = vec![
            span(1, 0, "dfs_write", "dfs", 0),
            span(2, 1, "dc_array_io", "array", 10),
            span(3, 2, "dc_obj_update", "obj client", 20),
            span(4, 3, "dc_obj_shard_rw", "obj client", 30),
            span(5, 4, "ds_obj_rw_handler", "engine tgt1", 40),
            span(6, 5, "vos_update_begin", "vos", 50),
            span(7, 2, "dc_obj_update", "obj client", 60),
            span(8, 7, "ds_obj_rw_handler", "engine tgt1", 70),
        ];
        let out = render(&spans, 1, &by_sched).unwrap();
        let decls: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("participant"))
            .collect();
        assert_eq!(
            decls,
            [
                "participant app",
                "participant dfs",
                "participant array",
                "participant \"obj client\" as obj_client",
                "participant \"engine tgt1\" as engine_tgt1",
                "participant vos",
            ]
        );
        assert!(out.contains("obj_client -> engine_tgt1 : ds_obj_rw_handler"));
        assert!(out.contains("obj_client -> obj_client : dc_obj_shard_rw"));
    }

    #[test]
    fn calls_and_returns_nest_children_by_start_time() {
        // Recorded in completion order, not start order.
        let spans = vec![
            span(4, 2, "c2", "x", 300),
            span(3, 2, "c1", "x", 200),
            span(5, 3, "g", "y", 250),
            span(2, 0, "root", "x", 100),
        ];
        let out = render(&spans, 2, &by_sched).unwrap();
        assert_eq!(
            body(&out),
            [
                "app -> x : root (1.0 us)",
                "activate x",
                "x -> x : c1 (1.0 us)",
                "activate x",
                "x -> y : g (1.0 us)",
                "activate y",
                "y --> x : g rc=ok",
                "deactivate y",
                "x --> x : c1 rc=ok",
                "deactivate x",
                "x -> x : c2 (1.0 us)",
                "activate x",
                "x --> x : c2 rc=ok",
                "deactivate x",
                "x --> app : root rc=ok",
                "deactivate x",
            ]
        );
    }

    #[test]
    fn equal_start_times_order_by_id() {
        let spans = vec![
            span(1, 0, "root", "a", 0),
            span(9, 1, "late_id", "a", 5),
            span(3, 1, "early_id", "a", 5),
        ];
        let out = render(&spans, 1, &by_sched).unwrap();
        let early = out.find(": early_id (").unwrap();
        let late = out.find(": late_id (").unwrap();
        assert!(early < late);
    }

    #[test]
    fn rc_shown_on_return_arrows() {
        let mut failed = span(2, 1, "nvme_rw", "bio", 10);
        failed.rc = -tse::der::DER_NVME_IO;
        let mut root = span(1, 0, "bio_iod_post", "vos", 0);
        root.rc = -tse::der::DER_IO;
        let out = render(&[root, failed], 1, &by_sched).unwrap();
        assert!(out.contains("bio --> vos : nvme_rw rc=-2033\n"));
        assert!(out.contains("vos --> app : bio_iod_post rc=-2001\n"));

        let ok = render(&[span(1, 0, "r", "a", 0)], 1, &by_sched).unwrap();
        assert!(ok.contains("a --> app : r rc=ok\n"));
    }

    #[test]
    fn caller_is_configurable() {
        let out = render_with_caller(&[span(1, 0, "r", "dfs", 0)], 1, "dfuse", &by_sched).unwrap();
        assert!(out.contains("participant dfuse\nparticipant dfs\n"));
        assert!(out.contains("dfuse -> dfs : r"));
        assert!(out.contains("dfs --> dfuse : r rc=ok"));
        assert!(!out.contains("app"));
    }

    #[test]
    fn unknown_root_is_an_error() {
        let spans = vec![span(1, 0, "r", "a", 0)];
        let err = render(&spans, 42, &by_sched).unwrap_err();
        assert_eq!(err, PumlError::UnknownRoot { root: 42, count: 1 });
        assert!(err.to_string().contains("42"));
        assert!(matches!(
            render(&[], 1, &by_sched),
            Err(PumlError::UnknownRoot { root: 1, count: 0 })
        ));
    }

    #[test]
    fn parent_cycle_is_an_error_not_a_hang() {
        let spans = vec![
            span(1, 3, "a", "x", 0),
            span(2, 1, "b", "x", 10),
            span(3, 2, "c", "x", 20),
        ];
        let err = render(&spans, 1, &by_sched).unwrap_err();
        assert!(matches!(err, PumlError::Cycle { .. }), "{err:?}");
        assert!(err.to_string().contains("cycle"));

        let own_parent = vec![span(5, 5, "self", "x", 0)];
        assert_eq!(
            render(&own_parent, 5, &by_sched),
            Err(PumlError::Cycle {
                id: 5,
                name: "self"
            })
        );
    }

    #[test]
    fn deep_chain_renders_without_stack_overflow() {
        const DEPTH: u64 = 100_000;
        let spans: Vec<Span> = (1..=DEPTH)
            .rev()
            .map(|id| span(id, id - 1, "step", if id % 2 == 0 { "a" } else { "b" }, id))
            .collect();
        let out = render(&spans, 1, &by_sched).unwrap();
        let calls = out.lines().filter(|l| l.contains(" -> ")).count();
        let returns = out.lines().filter(|l| l.contains(" --> ")).count();
        assert_eq!(calls as u64, DEPTH);
        assert_eq!(returns as u64, DEPTH);
        assert_eq!(
            out.lines().filter(|l| l.starts_with("participant")).count(),
            3
        );
        // The innermost call returns first, the root last.
        let b = body(&out);
        assert_eq!(b[b.len() - 2], "b --> app : step rc=ok");
    }

    #[test]
    fn spans_outside_the_root_subtree_are_excluded() {
        let spans = vec![
            span(1, 0, "other_op", "dfs", 0),
            span(2, 1, "other_child", "array", 5),
            span(10, 0, "dfs_write", "dfs", 100),
            span(11, 10, "dc_array_io", "array", 110),
            span(12, 99, "orphan", "obj", 120),
            span(13, 11, "dc_obj_update", "obj", 130),
        ];
        let out = render(&spans, 11, &by_sched).unwrap();
        assert!(out.contains("title dc_array_io"));
        assert!(out.contains("app -> array : dc_array_io"));
        assert!(out.contains("array -> obj : dc_obj_update"));
        for absent in ["other_op", "other_child", "dfs_write", "orphan"] {
            assert!(!out.contains(absent), "{absent} drawn:\n{out}");
        }
        assert!(!out.contains("participant dfs"));
    }

    #[test]
    fn rerun_task_is_drawn_per_run_without_false_cycle() {
        // Task 2 ran twice (reinit); each child goes below the run it
        // started in.
        let spans = vec![
            span(3, 2, "try1", "x", 20),
            span(2, 1, "retry", "x", 10),
            span(4, 2, "try2", "x", 60),
            span(2, 1, "retry", "x", 50),
            span(1, 0, "root", "x", 0),
        ];
        let out = render(&spans, 1, &by_sched).unwrap();
        let b = body(&out);
        let pos = |s: &str| b.iter().position(|l| *l == s).unwrap();
        let runs: Vec<usize> = b
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("x -> x : retry"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(runs.len(), 2);
        let try1 = pos("x -> x : try1 (1.0 us)");
        let try2 = pos("x -> x : try2 (1.0 us)");
        assert!(runs[0] < try1 && try1 < runs[1] && runs[1] < try2);
    }

    #[test]
    fn odd_lifeline_names_get_distinct_safe_aliases() {
        let spans = vec![
            span(1, 0, "r", "obj client", 0),
            span(2, 1, "s", "obj_client", 1),
            span(3, 2, "t", "1st \"tgt\"", 2),
            span(4, 3, "u", "end", 3),
        ];
        let out = render(&spans, 1, &by_sched).unwrap();
        assert!(out.contains("participant \"obj client\" as obj_client\n"));
        assert!(out.contains("participant \"obj_client\" as obj_client_2\n"));
        assert!(out.contains("participant \"1st 'tgt'\" as p_1st__tgt_\n"));
        assert!(out.contains("participant \"end\" as end_\n"));
        assert!(out.contains("obj_client -> obj_client_2 : s"));
    }

    #[test]
    fn multi_line_names_stay_on_one_line() {
        let out = render(&[span(1, 0, "a\nb", "x", 0)], 1, &by_sched).unwrap();
        assert!(out.contains("app -> x : a\\nb (1.0 us)\n"));
        assert!(out.contains("title a\\nb\n"));
    }
}
