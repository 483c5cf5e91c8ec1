//! Phase timings for `-v`, and the counts of the progress display.
//!
//! The libraries open [`tracing`] spans with the target `eka::phase` around
//! the phases of their work (listing, solving, writing, pushing); they do not
//! time or print anything themselves. This layer prints each phase's wall
//! time on stderr when its span closes, indented under the phase it is part
//! of. A span's `summary` field, when set, names it (e.g. a resolution round
//! says how many labels it listed from how many sets).
//!
//! Long work also sends events with the target `eka::progress` (`done` of
//! `total` `unit`): they are the counts of the progress bar on a terminal
//! ([`crate::output::Progress`]), and nothing without one.

use std::fmt;
use std::io::Write;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The target of the libraries' phase spans.
const PHASE_TARGET: &str = "eka::phase";

/// The target of the libraries' progress events.
const PROGRESS_TARGET: &str = "eka::progress";

/// Listens to the libraries for the rest of the process: progress counts,
/// and with `timings` (`-v`) phase timings.
pub fn install(timings: bool) {
    let subscriber = tracing_subscriber::registry().with(Listener { timings });
    // Only fails if a subscriber is already set, which main does not do.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// One layer for both targets: a layer that is not interested in a
/// callsite turns it off for every layer.
struct Listener {
    timings: bool,
}

impl Listener {
    fn wants(&self, target: &str) -> bool {
        target == PROGRESS_TARGET || (self.timings && target == PHASE_TARGET)
    }
}

/// The fields of a progress event.
#[derive(Default)]
struct Counts {
    done: Option<u64>,
    total: Option<u64>,
    unit: Option<String>,
}

impl Visit for Counts {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = Some(value),
            "total" => self.total = Some(value),
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.record_u64(field, value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "unit" {
            self.unit = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "unit" {
            self.unit = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

/// What is kept with an open phase span.
struct Phase {
    started: Instant,
    summary: Option<String>,
}

struct SummaryField<'a>(&'a mut Option<String>);

impl Visit for SummaryField<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            *self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "summary" {
            *self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for Listener
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.wants(metadata.target()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.wants(metadata.target())
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != PROGRESS_TARGET {
            return;
        }
        let mut counts = Counts::default();
        event.record(&mut counts);
        if let (Some(done), Some(total)) = (counts.done, counts.total) {
            crate::output::Progress::count(done, total, counts.unit.as_deref().unwrap_or(""));
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut summary = None;
        attrs.record(&mut SummaryField(&mut summary));
        span.extensions_mut().insert(Phase {
            started: Instant::now(),
            summary,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(phase) = extensions.get_mut::<Phase>() {
            values.record(&mut SummaryField(&mut phase.summary));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let extensions = span.extensions();
        let Some(phase) = extensions.get::<Phase>() else {
            return;
        };
        let name = phase.summary.as_deref().unwrap_or(span.name());
        let indent = 2 * span.scope().skip(1).count();
        let ms = phase.started.elapsed().as_secs_f64() * 1e3;
        // A closed stderr loses the timings, nothing else.
        let _ = writeln!(std::io::stderr(), "{:indent$}{name}: {ms:.1} ms", "");
    }
}
