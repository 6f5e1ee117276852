//! The one batch engine of the fleet, driving `AutomationPipeline` (orchestrator) and
//! `EnhanceBatch` (enhancement):
//!
//! - a [`Cursor`] hands out the batch's items with their batch index, from an explicit list or
//!   from a prefix listed a page at a time through the one list activity
//!   ([`ListBatchPage`], implemented by [`BatchActivities`] on each batch worker's queue);
//! - [`run_window`] keeps at most `window` child workflows running, starts the next as soon as
//!   one finishes, and stops after `per_run` items so no history outgrows Temporal's limits;
//! - the caller then continues as new with the cursor's [`Position`] and its own totals when
//!   [`Cursor::has_next`] says items remain, and its [`Children::progress`] feeds the
//!   `progress` query.
//!
//! Commands are issued in a fixed order (the list page before the child it feeds, children in
//! cursor order, completions in `select_all` order), so replays see the same sequence.
#![warn(missing_docs)]

// The activity macro generates an undocumented constant per activity.
#[allow(missing_docs)]
pub mod activities;

pub use activities::{BatchActivities, is_batch_image, list_page};

use contracts::ObjectRef;
use contracts::batch::{ListBatchPage, ListPageRequest};
use contracts::object::PrefixRef;
use futures::future::{LocalBoxFuture, select_all};
use std::collections::VecDeque;
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

/// Where a batch's items come from.
pub enum Source<T> {
    /// An explicit list, handed out by index.
    List(Vec<T>),
    /// Every batch image under a prefix, in key order, listed as the batch advances; `wrap`
    /// turns each listed object into an item.
    Prefix {
        /// Bucket and prefix.
        location: PrefixRef,
        /// Item of a listed object.
        wrap: Box<dyn Fn(ObjectRef) -> T>,
    },
}

/// Where a run starts: carried across continue-as-new by the calling workflow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// Batch index of the next item.
    pub next_index: u64,
    /// Prefix sources: the key of the last item handed out (the listing resumes after it).
    pub list_after: Option<String>,
}

/// Hands out a batch's items and their batch indices.
pub struct Cursor<T> {
    next_index: u64,
    source: CursorSource<T>,
    list_options: ActivityOptions,
}

enum CursorSource<T> {
    List(Vec<T>),
    Prefix {
        location: PrefixRef,
        wrap: Box<dyn Fn(ObjectRef) -> T>,
        /// Listed and not handed out yet, in key order, each with the non-image keys listed
        /// just before it.
        buffer: VecDeque<(ObjectRef, u64)>,
        /// Non-image keys listed after the last buffered image.
        skipped_pending: u64,
        /// Where the next listing call starts.
        fetch_after: Option<String>,
        /// Key of the last item handed out: the next run starts listing after it.
        last_handed_out: Option<String>,
        listing_done: bool,
        page_size: u32,
        /// Items in the batch, once the listing reached its end.
        total: Option<u64>,
        /// Non-image keys passed over by this run (those before the items it handed out, and
        /// the rest once the listing ended: a resumed run lists from the last item on).
        skipped: u64,
    },
}

impl<T: Clone> Cursor<T> {
    /// A cursor over `source` from `from`, listing at most `page_size` keys a page (a run takes
    /// at most its share, so listing more would be wasted) with `list_options`.
    pub fn new(source: Source<T>, from: Position, page_size: u32, list_options: ActivityOptions) -> Self {
        let source = match source {
            Source::List(list) => CursorSource::List(list),
            Source::Prefix { location, wrap } => CursorSource::Prefix {
                location,
                wrap,
                buffer: VecDeque::new(),
                skipped_pending: 0,
                fetch_after: from.list_after.clone(),
                last_handed_out: from.list_after,
                listing_done: false,
                page_size: page_size.clamp(1, 1000),
                total: None,
                skipped: 0,
            },
        };
        Self { next_index: from.next_index, source, list_options }
    }

    /// Items in the batch, when known.
    pub fn total(&self) -> Option<u64> {
        match &self.source {
            CursorSource::List(list) => Some(list.len() as u64),
            CursorSource::Prefix { total, .. } => *total,
        }
    }

    /// Where the next run starts.
    pub fn position(&self) -> Position {
        let list_after = match &self.source {
            CursorSource::List(_) => None,
            CursorSource::Prefix { last_handed_out, .. } => last_handed_out.clone(),
        };
        Position { next_index: self.next_index, list_after }
    }

    /// Non-image keys this run passed over, each counted by exactly one run of the batch.
    pub fn skipped(&self) -> u64 {
        match &self.source {
            CursorSource::List(_) => 0,
            CursorSource::Prefix { skipped, .. } => *skipped,
        }
    }

    /// True when another item is available, listing further pages if needed (a page may hold
    /// only sidecars).
    pub async fn has_next<W>(&mut self, ctx: &WorkflowContext<W>) -> WorkflowResult<bool> {
        let next_index = self.next_index;
        match &mut self.source {
            CursorSource::List(list) => Ok(next_index < list.len() as u64),
            CursorSource::Prefix { location, buffer, skipped_pending, fetch_after, listing_done, page_size, total, skipped, .. } => {
                while buffer.is_empty() && !*listing_done {
                    let request = ListPageRequest { location: location.clone(), start_after: fetch_after.clone(), max_keys: *page_size };
                    let page = ctx.execute_activity(ListBatchPage, request, self.list_options.clone()).await?;
                    let before = page.skipped_before.into_iter().chain(std::iter::repeat(0));
                    for (object, skipped_before) in page.objects.into_iter().zip(before) {
                        buffer.push_back((object, std::mem::take(skipped_pending) + skipped_before));
                    }
                    *skipped_pending += page.skipped_after;
                    *fetch_after = page.next_after;
                    if fetch_after.is_none() {
                        *listing_done = true;
                        *total = Some(next_index + buffer.len() as u64);
                    }
                }
                if *listing_done && buffer.is_empty() {
                    *skipped += std::mem::take(skipped_pending);
                }
                Ok(!buffer.is_empty())
            }
        }
    }

    /// The next item and its batch index, if any.
    pub async fn next<W>(&mut self, ctx: &WorkflowContext<W>) -> WorkflowResult<Option<(u64, T)>> {
        if !self.has_next(ctx).await? {
            return Ok(None);
        }
        let index = self.next_index;
        let item = match &mut self.source {
            CursorSource::List(list) => list[index as usize].clone(),
            CursorSource::Prefix { buffer, wrap, last_handed_out, skipped, .. } => {
                let Some((object, skipped_before)) = buffer.pop_front() else { return Ok(None) };
                *skipped += skipped_before;
                *last_handed_out = Some(object.key().to_owned());
                wrap(object)
            }
        };
        self.next_index += 1;
        Ok(Some((index, item)))
    }
}

/// What a batch workflow does with its items: start a child per item, take in each outcome,
/// publish progress.
pub trait Children<'a> {
    /// What the cursor hands out.
    type Item;
    /// What a child resolves to (a failed child is an outcome too, never a batch failure).
    type Outcome;
    /// The child of the item at `index`; the future may borrow the workflow context, not
    /// `self`.
    fn start(&self, index: u64, item: Self::Item) -> LocalBoxFuture<'a, Self::Outcome>;
    /// A child finished.
    fn finished(&mut self, index: u64, outcome: Self::Outcome);
    /// Where the batch stands, for the `progress` query.
    fn progress(&mut self, progress: Progress);
}

/// Where a run of a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Children running now.
    pub running: usize,
    /// Items in the batch, when known.
    pub total: Option<u64>,
    /// Non-image keys this run passed over so far ([`Cursor::skipped`]).
    pub skipped: u64,
}

impl<T: Clone> Cursor<T> {
    fn progress(&self, running: usize) -> Progress {
        Progress { running, total: self.total(), skipped: self.skipped() }
    }
}

/// Runs this run's share of the batch: up to `per_run` items from `cursor`, at most `window`
/// children at once, a new one started as soon as one finishes. Returns when every started
/// child has finished; the caller then continues as new if [`Cursor::has_next`].
pub async fn run_window<'a, W, C>(
    ctx: &WorkflowContext<W>,
    cursor: &mut Cursor<C::Item>,
    window: usize,
    per_run: u64,
    children: &mut C,
) -> WorkflowResult<()>
where
    C: Children<'a>,
    C::Item: Clone,
    C::Outcome: 'a,
{
    let window = window.max(1);
    children.progress(cursor.progress(0));
    let mut running: Vec<LocalBoxFuture<'a, (u64, C::Outcome)>> = Vec::new();
    let mut started = 0u64;
    loop {
        while running.len() < window && started < per_run {
            let Some((index, item)) = cursor.next(ctx).await? else { break };
            started += 1;
            let child = children.start(index, item);
            running.push(Box::pin(async move { (index, child.await) }));
            children.progress(cursor.progress(running.len()));
        }
        if running.is_empty() {
            break;
        }
        // `select_all` polls in order, so the same completions resolve in the same order on replay.
        let ((index, outcome), _, rest) = select_all(running).await;
        running = rest;
        children.finished(index, outcome);
        children.progress(cursor.progress(running.len()));
    }
    Ok(())
}
