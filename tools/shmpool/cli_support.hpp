// What the `shmpool` tool's subcommands share: exit codes, error reporting, and the plain text
// tables and JSON they print.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "shmpool/catalog.hpp"
#include "shmpool/error.hpp"

namespace shmpool::cli {

enum exit_code : int {
    exit_ok = 0,
    exit_failed = 1,
    exit_usage = 2,
    exit_not_found = 3,
    exit_not_array = 4,
};

/// Prints "shmpool: MESSAGE" on stderr; returns `code`.
int fail(std::string_view message, int code);
/// Adds how to find the existing arrays, unless the message already says it, names a file path
/// or is about processes (`mem`).
std::string with_ls_hint(std::string message);

/// Runs `action`, turning what it throws into a message on stderr and an exit code.
template <class Action>
int guarded(Action&& action) {
    try {
        action();
        return exit_ok;
    } catch (const not_found_error& e) {
        return fail(with_ls_hint(e.what()), exit_not_found);
    } catch (const format_error& e) {
        return fail(e.what(), exit_not_array);
    } catch (const invalid_argument_error& e) {
        return fail(e.what(), exit_usage);
    } catch (const std::exception& e) {
        return fail(e.what(), exit_failed);
    }
}

/// "(3, 4)", numpy's way; "(5,)" for rank 1.
std::string shape_text(const std::vector<std::size_t>& shape);
/// "1.5 GiB".
std::string human_bytes(std::size_t bytes);
/// "2026-12-03T08:09:42Z".
std::string iso8601_utc(std::int64_t unix_ns);
/// Prints one JSON value on stdout (invalid UTF-8 in file names is replaced, not thrown on).
void print_json(const nlohmann::ordered_json& j);

/// A plain text table: columns two spaces apart, no trailing blanks. Columns are left-aligned
/// unless `align` has an 'r' at their index.
using table_row = std::vector<std::string>;
void print_table(const std::vector<table_row>& rows, std::string_view align = {});

/// NAME is a name in /dev/shm, or a file path when it contains '/'.
bool is_path(const std::string& name);

}  // namespace shmpool::cli
