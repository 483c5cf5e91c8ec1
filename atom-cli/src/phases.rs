//! Phase timings for `-v`.
//!
//! The libraries open [`tracing`] spans with the target `eka::phase` around
//! the phases of their work (listing, solving, writing, pushing); they do not
//! time or print anything themselves. This layer prints each phase's wall
//! time on stderr when its span closes, indented under the phase it is part
//! of. A span's `summary` field, when set, names it (e.g. a resolution round
//! says how many labels it listed from how many sets).

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

/// Prints phase timings for the rest of the process.
pub fn print_timings() {
    let subscriber = tracing_subscriber::registry().with(PhaseTimings);
    // Only fails if a subscriber is already set, which main does not do.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

struct PhaseTimings;

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

impl<S> Layer<S> for PhaseTimings
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.target() == PHASE_TARGET {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target() == PHASE_TARGET
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
