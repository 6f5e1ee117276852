//! Where the time of a workflow goes, read from its history: when it started and closed, when
//! each activity was scheduled, started and closed, which children it started and whether it
//! continued as new. The analysis splits an image's wall time into activity time (at least one
//! of its activities running), queueing (activities scheduled, none running yet) and
//! orchestration (neither: workflow tasks, child starts, result delivery). It also counts the
//! events that are Temporal Cloud billable actions ([`ActionCounts`]).

use prost::Message as _;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use temporalio_common::protos::temporal::api::failure::v1::Failure;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_common::protos::temporal::api::history::v1::HistoryEvent;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

/// One activity execution (all its attempts).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivitySpan {
    /// Activity type.
    pub name: String,
    /// Scheduled, seconds since the epoch.
    pub scheduled: f64,
    /// Its last attempt started.
    pub started: Option<f64>,
    /// Completed, failed, timed out or cancelled.
    pub closed: Option<f64>,
}

/// One workflow run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunTimeline {
    /// Workflow type.
    pub workflow_type: String,
    /// First event, seconds since the epoch.
    pub start: f64,
    /// Last event (the close event once closed).
    pub end: f64,
    /// Its activities.
    pub activities: Vec<ActivitySpan>,
    /// Children it started: (workflow id, run id).
    pub children: Vec<(String, String)>,
    /// Run id of the run it continued as.
    pub continued_as: Option<String>,
    /// Events in the history.
    pub events: usize,
    /// Encoded size of the history, bytes.
    pub bytes: usize,
    /// Its billable actions.
    pub actions: ActionCounts,
}

/// The Temporal Cloud billable actions a history shows (docs.temporal.io/cloud/actions), by
/// kind. Only what history events record: queries are not in a history, and heartbeats are
/// not events at all (see `heartbeats_seen`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ActionCounts {
    /// `WorkflowExecutionStarted`: every run, whether started by a client, as a child or by
    /// continue-as-new.
    pub workflow_starts: u64,
    /// `StartChildWorkflowExecutionInitiated`: Cloud bills a child as two actions, the parent's
    /// start and the child's execution; this is the first, the child's own
    /// `WorkflowExecutionStarted` the second.
    pub child_starts: u64,
    /// Activity attempts: "activity started or retried" is one action per attempt. A history
    /// records one `ActivityTaskStarted` per activity, carrying the attempt number of the
    /// last attempt, which is what is added up.
    pub activity_attempts: u64,
    /// `TimerStarted`.
    pub timers: u64,
    /// `WorkflowExecutionSignaled` (counted where the signal lands, so a signal between two
    /// workflows of the tree counts once).
    pub signals: u64,
    /// `UpsertWorkflowSearchAttributes`, except upserts of `TemporalChangeVersion` alone.
    pub search_attribute_upserts: u64,
    /// Workflow tasks that recorded markers (local activities, side effects, patches): Cloud
    /// counts all the `RecordMarker` commands of one workflow task as one action.
    pub marker_batches: u64,
    /// `WorkflowExecutionUpdateAccepted` and `...Rejected`.
    pub updates: u64,
    /// `WorkflowExecutionOptionsUpdated`.
    pub options_updates: u64,
    /// Heartbeats the history shows: a heartbeat is an action when it reaches the server, but
    /// it writes no event; its details surface only in a timed-out activity's
    /// `last_heartbeat_details`, in the details of a cancelled one, or in the last failure a
    /// retried attempt starts with. One per activity showing any: a lower bound, 0 when every
    /// activity succeeded at its first attempt.
    pub heartbeats_seen: u64,
}

impl ActionCounts {
    /// All actions.
    pub fn total(&self) -> u64 {
        self.workflow_starts
            + self.child_starts
            + self.activity_attempts
            + self.timers
            + self.signals
            + self.search_attribute_upserts
            + self.marker_batches
            + self.updates
            + self.options_updates
            + self.heartbeats_seen
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &ActionCounts) {
        self.workflow_starts += other.workflow_starts;
        self.child_starts += other.child_starts;
        self.activity_attempts += other.activity_attempts;
        self.timers += other.timers;
        self.signals += other.signals;
        self.search_attribute_upserts += other.search_attribute_upserts;
        self.marker_batches += other.marker_batches;
        self.updates += other.updates;
        self.options_updates += other.options_updates;
        self.heartbeats_seen += other.heartbeats_seen;
    }
}

/// True when a failure (or one of its causes) is a timeout carrying heartbeat details.
fn carries_heartbeat(failure: Option<&Failure>) -> bool {
    let mut next = failure;
    while let Some(f) = next {
        if let Some(FailureInfo::TimeoutFailureInfo(t)) = &f.failure_info
            && t.last_heartbeat_details.as_ref().is_some_and(|d| !d.payloads.is_empty())
        {
            return true;
        }
        next = f.cause.as_deref();
    }
    false
}

fn seconds(event: &HistoryEvent) -> f64 {
    event.event_time.as_ref().map_or(0.0, |t| t.seconds as f64 + f64::from(t.nanos) * 1e-9)
}

/// Reads a run's timeline from its events.
pub fn timeline(events: &[HistoryEvent]) -> RunTimeline {
    let mut run = RunTimeline {
        workflow_type: String::new(),
        start: events.first().map_or(0.0, seconds),
        end: events.last().map_or(0.0, seconds),
        activities: Vec::new(),
        children: Vec::new(),
        continued_as: None,
        events: events.len(),
        bytes: events.iter().map(|e| e.encoded_len()).sum(),
        actions: ActionCounts::default(),
    };
    // Activities (by scheduled event id) whose heartbeat details the history shows, and the
    // workflow tasks that recorded markers.
    let mut heartbeat_seen: std::collections::HashSet<i64> = std::collections::HashSet::new();
    let mut marker_batches: std::collections::HashSet<i64> = std::collections::HashSet::new();
    // Scheduled event id -> index in `activities`.
    let mut by_schedule: HashMap<i64, usize> = HashMap::new();
    let close = |run: &mut RunTimeline, by_schedule: &HashMap<i64, usize>, scheduled_event_id: i64, at: f64| {
        if let Some(&i) = by_schedule.get(&scheduled_event_id) {
            run.activities[i].closed = Some(at);
        }
    };
    for event in events {
        let at = seconds(event);
        match &event.attributes {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                run.workflow_type = a.workflow_type.as_ref().map(|t| t.name.clone()).unwrap_or_default();
                run.actions.workflow_starts += 1;
            }
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
                by_schedule.insert(event.event_id, run.activities.len());
                let name = a.activity_type.as_ref().map(|t| t.name.clone()).unwrap_or_default();
                run.activities.push(ActivitySpan { name, scheduled: at, started: None, closed: None });
            }
            Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
                if let Some(&i) = by_schedule.get(&a.scheduled_event_id) {
                    run.activities[i].started = Some(at);
                }
                run.actions.activity_attempts += u64::try_from(a.attempt.max(1)).unwrap_or(1);
                if carries_heartbeat(a.last_failure.as_ref()) {
                    heartbeat_seen.insert(a.scheduled_event_id);
                }
            }
            Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => close(&mut run, &by_schedule, a.scheduled_event_id, at),
            Some(Attributes::ActivityTaskFailedEventAttributes(a)) => close(&mut run, &by_schedule, a.scheduled_event_id, at),
            Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
                close(&mut run, &by_schedule, a.scheduled_event_id, at);
                if carries_heartbeat(a.failure.as_ref()) {
                    heartbeat_seen.insert(a.scheduled_event_id);
                }
            }
            Some(Attributes::ActivityTaskCanceledEventAttributes(a)) => {
                close(&mut run, &by_schedule, a.scheduled_event_id, at);
                if a.details.as_ref().is_some_and(|d| !d.payloads.is_empty()) {
                    heartbeat_seen.insert(a.scheduled_event_id);
                }
            }
            Some(Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(_)) => run.actions.child_starts += 1,
            Some(Attributes::TimerStartedEventAttributes(_)) => run.actions.timers += 1,
            Some(Attributes::WorkflowExecutionSignaledEventAttributes(_)) => run.actions.signals += 1,
            Some(Attributes::UpsertWorkflowSearchAttributesEventAttributes(a)) => {
                let only_change_version = a
                    .search_attributes
                    .as_ref()
                    .is_some_and(|s| !s.indexed_fields.is_empty() && s.indexed_fields.keys().all(|k| k == "TemporalChangeVersion"));
                if !only_change_version {
                    run.actions.search_attribute_upserts += 1;
                }
            }
            Some(Attributes::MarkerRecordedEventAttributes(a)) => {
                marker_batches.insert(a.workflow_task_completed_event_id);
            }
            Some(Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(_) | Attributes::WorkflowExecutionUpdateRejectedEventAttributes(_)) => {
                run.actions.updates += 1;
            }
            Some(Attributes::WorkflowExecutionOptionsUpdatedEventAttributes(_)) => run.actions.options_updates += 1,
            Some(Attributes::ChildWorkflowExecutionStartedEventAttributes(a)) => {
                if let Some(execution) = &a.workflow_execution {
                    run.children.push((execution.workflow_id.clone(), execution.run_id.clone()));
                }
            }
            Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(a)) => {
                run.continued_as = Some(a.new_execution_run_id.clone());
            }
            _ => {}
        }
    }
    run.actions.heartbeats_seen = heartbeat_seen.len() as u64;
    run.actions.marker_batches = marker_batches.len() as u64;
    run
}

/// Total length covered by a set of intervals (overlaps counted once).
pub fn union_length(mut intervals: Vec<(f64, f64)>) -> f64 {
    intervals.retain(|(a, b)| b > a);
    intervals.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (start, end) in intervals {
        match current {
            Some((s, e)) if start <= e => current = Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    total + current.map_or(0.0, |(s, e)| e - s)
}

/// How the wall time of a set of workflows (one per image) splits.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TimeSplit {
    /// Workflows (images) measured.
    pub workflows: usize,
    /// Sum of their wall times (start to close), seconds.
    pub wall_seconds: f64,
    /// Time with at least one activity of the tree running.
    pub activity_seconds: f64,
    /// Time with activities scheduled but none running (waiting for a worker slot).
    pub queued_seconds: f64,
    /// The rest: workflow tasks, child workflow starts, results travelling back.
    pub orchestration_seconds: f64,
    /// `activity_seconds / wall_seconds`.
    pub activity_share: f64,
    /// `queued_seconds / wall_seconds`.
    pub queued_share: f64,
    /// `orchestration_seconds / wall_seconds`.
    pub orchestration_share: f64,
    /// Sum of (closed - started) over every activity, parallel ones added up.
    pub activity_sum_seconds: f64,
}

impl TimeSplit {
    /// Adds one workflow: its wall interval and the activities of it and its descendants.
    pub fn add(&mut self, start: f64, end: f64, activities: &[&ActivitySpan]) {
        let wall = (end - start).max(0.0);
        let running: Vec<(f64, f64)> = activities.iter().filter_map(|a| Some((a.started?, a.closed?))).collect();
        let pending: Vec<(f64, f64)> = activities.iter().filter_map(|a| Some((a.scheduled, a.closed?))).collect();
        let sum: f64 = running.iter().map(|(s, e)| (e - s).max(0.0)).sum();
        let running = union_length(running).min(wall);
        let pending = union_length(pending).clamp(running, wall);
        self.workflows += 1;
        self.wall_seconds += wall;
        self.activity_seconds += running;
        self.queued_seconds += pending - running;
        self.orchestration_seconds += wall - pending;
        self.activity_sum_seconds += sum;
        if self.wall_seconds > 0.0 {
            self.activity_share = self.activity_seconds / self.wall_seconds;
            self.queued_share = self.queued_seconds / self.wall_seconds;
            self.orchestration_share = self.orchestration_seconds / self.wall_seconds;
        }
    }
}

/// Per activity type: how many, and mean times.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ActivityStats {
    /// Executions.
    pub count: usize,
    /// Mean scheduled -> started, milliseconds.
    pub mean_queued_ms: f64,
    /// Mean started -> closed, milliseconds.
    pub mean_running_ms: f64,
}

/// Per workflow type: how many runs, and their histories' size.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HistoryStats {
    /// Runs.
    pub runs: usize,
    /// Mean events per run.
    pub mean_events: f64,
    /// Mean encoded history size per run, bytes.
    pub mean_bytes: f64,
    /// Mean billable actions per run ([`ActionCounts::total`]).
    pub mean_actions: f64,
}

/// Activity statistics over many runs, by activity type.
pub fn activity_stats<'a>(runs: impl IntoIterator<Item = &'a RunTimeline>) -> BTreeMap<String, ActivityStats> {
    let mut sums: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for run in runs {
        for a in &run.activities {
            let (Some(started), Some(closed)) = (a.started, a.closed) else { continue };
            let entry = sums.entry(a.name.clone()).or_default();
            entry.0 += 1;
            entry.1 += started - a.scheduled;
            entry.2 += closed - started;
        }
    }
    sums.into_iter()
        .map(|(name, (count, queued, running))| {
            let n = count.max(1) as f64;
            (name, ActivityStats { count, mean_queued_ms: queued / n * 1e3, mean_running_ms: running / n * 1e3 })
        })
        .collect()
}

/// History sizes over many runs, by workflow type.
pub fn history_stats<'a>(runs: impl IntoIterator<Item = &'a RunTimeline>) -> BTreeMap<String, HistoryStats> {
    let mut sums: BTreeMap<String, (usize, usize, usize, u64)> = BTreeMap::new();
    for run in runs {
        let entry = sums.entry(run.workflow_type.clone()).or_default();
        entry.0 += 1;
        entry.1 += run.events;
        entry.2 += run.bytes;
        entry.3 += run.actions.total();
    }
    sums.into_iter()
        .map(|(name, (runs, events, bytes, actions))| {
            let n = runs.max(1) as f64;
            (name, HistoryStats { runs, mean_events: events as f64 / n, mean_bytes: bytes as f64 / n, mean_actions: actions as f64 / n })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use temporalio_common::protos::temporal::api::common::v1::{ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType};
    use temporalio_common::protos::temporal::api::failure::v1::TimeoutFailureInfo;
    use temporalio_common::protos::temporal::api::history::v1::{
        ActivityTaskCompletedEventAttributes, ActivityTaskScheduledEventAttributes, ActivityTaskStartedEventAttributes,
        ChildWorkflowExecutionStartedEventAttributes, MarkerRecordedEventAttributes, WorkflowExecutionCompletedEventAttributes,
        WorkflowExecutionStartedEventAttributes,
    };

    fn event(id: i64, at: f64, attributes: Attributes) -> HistoryEvent {
        // The timestamp type of `event_time`, without naming its crate.
        let mut time = HistoryEvent::default().event_time.unwrap_or_default();
        time.seconds = at.trunc() as i64;
        time.nanos = (at.fract() * 1e9).round() as i32;
        HistoryEvent { event_id: id, event_time: Some(time), attributes: Some(attributes), ..Default::default() }
    }

    fn sample_history() -> Vec<HistoryEvent> {
        vec![
            event(
                1,
                100.0,
                Attributes::WorkflowExecutionStartedEventAttributes(WorkflowExecutionStartedEventAttributes {
                    workflow_type: Some(WorkflowType { name: "ImagePipeline".into() }),
                    ..Default::default()
                }),
            ),
            event(
                5,
                101.0,
                Attributes::ActivityTaskScheduledEventAttributes(ActivityTaskScheduledEventAttributes {
                    activity_type: Some(ActivityType { name: "SplitTiles".into() }),
                    ..Default::default()
                }),
            ),
            event(
                6,
                101.5,
                Attributes::ActivityTaskStartedEventAttributes(ActivityTaskStartedEventAttributes { scheduled_event_id: 5, ..Default::default() }),
            ),
            event(
                7,
                103.5,
                Attributes::ActivityTaskCompletedEventAttributes(ActivityTaskCompletedEventAttributes {
                    scheduled_event_id: 5,
                    started_event_id: 6,
                    ..Default::default()
                }),
            ),
            event(
                9,
                104.0,
                Attributes::ChildWorkflowExecutionStartedEventAttributes(ChildWorkflowExecutionStartedEventAttributes {
                    workflow_execution: Some(WorkflowExecution { workflow_id: "child".into(), run_id: "run-1".into() }),
                    ..Default::default()
                }),
            ),
            event(12, 110.0, Attributes::WorkflowExecutionCompletedEventAttributes(WorkflowExecutionCompletedEventAttributes::default())),
        ]
    }

    #[test]
    fn reads_a_timeline() {
        let run = timeline(&sample_history());
        assert_eq!(run.workflow_type, "ImagePipeline");
        assert_eq!((run.start, run.end), (100.0, 110.0));
        assert_eq!(run.activities, vec![ActivitySpan { name: "SplitTiles".into(), scheduled: 101.0, started: Some(101.5), closed: Some(103.5) }]);
        assert_eq!(run.children, vec![("child".to_owned(), "run-1".to_owned())]);
        assert_eq!(run.continued_as, None);
        assert_eq!(run.events, 6);
        assert!(run.bytes > 0);
        let stats = activity_stats([&run]);
        assert_eq!(stats["SplitTiles"], ActivityStats { count: 1, mean_queued_ms: 500.0, mean_running_ms: 2000.0 });
        assert_eq!(run.actions, ActionCounts { workflow_starts: 1, activity_attempts: 1, ..Default::default() });
    }

    #[test]
    fn counts_billable_actions() {
        let payloads = Payloads { payloads: vec![Payload { data: b"3".to_vec(), ..Default::default() }] };
        let timeout = Failure {
            failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo { last_heartbeat_details: Some(payloads), ..Default::default() })),
            ..Default::default()
        };
        let mut events = sample_history();
        let marker = |id: i64, name: &str, task: i64| {
            event(
                id,
                102.0,
                Attributes::MarkerRecordedEventAttributes(MarkerRecordedEventAttributes {
                    marker_name: name.into(),
                    workflow_task_completed_event_id: task,
                    ..Default::default()
                }),
            )
        };
        events.extend([
            event(20, 105.0, Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(Default::default())),
            event(21, 105.0, Attributes::TimerStartedEventAttributes(Default::default())),
            event(22, 105.0, Attributes::WorkflowExecutionSignaledEventAttributes(Default::default())),
            event(23, 105.0, Attributes::UpsertWorkflowSearchAttributesEventAttributes(Default::default())),
            marker(24, "core_local_activity", 4),
            marker(25, "core_local_activity", 4),
            marker(26, "core_patch", 8),
            event(
                30,
                106.0,
                Attributes::ActivityTaskScheduledEventAttributes(ActivityTaskScheduledEventAttributes {
                    activity_type: Some(ActivityType { name: "ComputeTileMetrics".into() }),
                    ..Default::default()
                }),
            ),
            event(
                31,
                106.5,
                Attributes::ActivityTaskStartedEventAttributes(ActivityTaskStartedEventAttributes {
                    scheduled_event_id: 30,
                    attempt: 3,
                    last_failure: Some(timeout),
                    ..Default::default()
                }),
            ),
        ]);
        let run = timeline(&events);
        let expected = ActionCounts {
            workflow_starts: 1,
            child_starts: 1,
            activity_attempts: 4,
            timers: 1,
            signals: 1,
            search_attribute_upserts: 1,
            marker_batches: 2,
            heartbeats_seen: 1,
            ..Default::default()
        };
        assert_eq!(run.actions, expected);
        assert_eq!(run.actions.total(), 12);
        assert_eq!(history_stats([&run])["ImagePipeline"].mean_actions, 12.0);
    }

    #[test]
    fn splits_wall_time() {
        let span =
            |scheduled: f64, started: f64, closed: f64| ActivitySpan { name: "a".into(), scheduled, started: Some(started), closed: Some(closed) };
        // Wall 0..10. Two parallel activities running 2..5 and 3..6 (queued from 1), one 8..9
        // queued from 7.5: running 4 + 1 = 5 s, queued 1 + 0.5 = 1.5 s, the rest 3.5 s.
        let (a, b, c) = (span(1.0, 2.0, 5.0), span(1.0, 3.0, 6.0), span(7.5, 8.0, 9.0));
        let mut split = TimeSplit::default();
        split.add(0.0, 10.0, &[&a, &b, &c]);
        assert_eq!(split.workflows, 1);
        assert_eq!(split.wall_seconds, 10.0);
        assert_eq!(split.activity_seconds, 5.0);
        assert_eq!(split.queued_seconds, 1.5);
        assert_eq!(split.orchestration_seconds, 3.5);
        assert_eq!(split.activity_sum_seconds, 7.0);
        assert!((split.activity_share + split.queued_share + split.orchestration_share - 1.0).abs() < 1e-12);
    }

    #[test]
    fn unions() {
        assert_eq!(union_length(vec![]), 0.0);
        assert_eq!(union_length(vec![(0.0, 1.0), (2.0, 3.0)]), 2.0);
        assert_eq!(union_length(vec![(0.0, 2.0), (1.0, 3.0), (2.5, 2.6)]), 3.0);
        assert_eq!(union_length(vec![(5.0, 6.0), (0.0, 1.0), (0.5, 5.5)]), 6.0);
        assert_eq!(union_length(vec![(1.0, 1.0), (3.0, 2.0)]), 0.0);
    }
}
