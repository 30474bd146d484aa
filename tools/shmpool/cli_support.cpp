// What the `shmpool` tool's subcommands share (see cli_support.hpp).
#include "cli_support.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace shmpool::cli {

int fail(std::string_view message, int code) {
    std::cerr << "shmpool: " << message << '\n';
    return code;
}

std::string with_ls_hint(std::string message) {
    const auto holds = [&](std::string_view s) { return message.find(s) != std::string::npos; };
    if (!holds("shmpool ls") && !holds("array file") && !holds("process"))
        message += "; list the arrays with `shmpool ls`";
    return message;
}

std::string shape_text(const std::vector<std::size_t>& shape) {
    std::string out = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) out += ", ";
        out += std::to_string(shape[i]);
    }
    if (shape.size() == 1) out += ",";
    return out + ")";
}

std::string human_bytes(std::size_t bytes) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) return std::to_string(bytes) + " B";
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < std::size(units)) {
        value /= 1024.0;
        ++unit;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", value, units[unit]);
    return buf;
}

// "2024-05-01T12:34:56.789Z", or "unknown" for 0.
std::string iso8601_utc(std::int64_t unix_ns) {
    if (unix_ns == 0) return "unknown";
    constexpr std::int64_t ns_per_s = 1'000'000'000;
    std::int64_t seconds = unix_ns / ns_per_s;
    std::int64_t rest_ns = unix_ns % ns_per_s;
    if (rest_ns < 0) {
        rest_ns += ns_per_s;
        --seconds;
    }
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    if (::gmtime_r(&t, &tm) == nullptr) return "unknown";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(rest_ns / 1'000'000));
    return buf;
}

void print_json(const nlohmann::ordered_json& j) {
    std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

void print_table(const std::vector<table_row>& rows, std::string_view align) {
    std::vector<std::size_t> widths;
    for (const table_row& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    }
    for (const table_row& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (c > 0) line += "  ";
            const std::size_t pad = widths[c] - row[c].size();
            const bool right = c < align.size() && align[c] == 'r';
            if (right) line.append(pad, ' ');
            line += row[c];
            if (!right && c + 1 < row.size()) line.append(pad, ' ');
        }
        std::cout << line << '\n';
    }
}

bool is_path(const std::string& name) { return name.find('/') != std::string::npos; }

}  // namespace shmpool::cli
