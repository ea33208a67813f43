//! Wall-clock times as the engine sees them: milliseconds since the Unix epoch, passed in.

/// Formats `millis` as ISO 8601 UTC with milliseconds, e.g. `2024-01-15T10:30:00.123Z`.
pub fn format_iso8601(millis: i64) -> String {
    // Placeholder replaced by the full implementation in this module.
    format!("{millis}ms")
}
