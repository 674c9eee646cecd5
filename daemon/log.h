// Operator log lines on stderr for `serve` and `connect`: one module, so both commands
// share the levels, the prefix ("curvecp serve: ") and the timestamp rule.
//
//   quiet    errors only (-q)
//   normal   errors and the lines an operator needs (start-up, connection start and end,
//            refusals)
//   verbose  also the diagnostic lines (-v: handshake steps, counters, program exits)
//
// Each line is written with one write(2), so lines from one process never interleave.
// Timestamps (UTC, ISO 8601 with milliseconds, "2026-12-01T22:30:05.123Z ") lead each
// line when asked for, except when stderr is the systemd journal (JOURNAL_STREAM names
// stderr's device:inode, systemd.exec(5)), which stamps lines itself.
// Never pass secrets.
#pragma once

#include <string>
#include <string_view>

namespace curvecp {

enum class LogLevel : unsigned char { quiet, normal, verbose };

// Sets the process's log: `prefix` starts every line ("curvecp serve"), `level` filters,
// `timestamps` asks for the leading time (ignored when stderr is the journal).
void log_configure(std::string prefix, LogLevel level, bool timestamps);
LogLevel log_level();
bool log_timestamps();

// True if lines of `level` are written (e.g. to skip formatting a verbose line).
bool log_enabled(LogLevel level);

// "PREFIX: what" on stderr, at every level.
void log_error(std::string_view what);
// At normal and verbose.
void log_info(std::string_view what);
// At verbose only.
void log_verbose(std::string_view what);

// Whether stderr is the systemd journal: JOURNAL_STREAM is "DEV:INODE" of stderr.
bool stderr_is_journal();

// "2026-12-01T22:30:05.123Z" for the wall clock now (UTC).
std::string utc_timestamp_now();

}  // namespace curvecp
