// The array subcommands of the `shmpool` tool: ls, info, rm, gc.
#include <iostream>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "commands.hpp"
#include "shmpool/catalog.hpp"
#include "shmpool/frozen.hpp"

namespace shmpool::cli {
namespace {

std::string creator_text(const array_info& a) {
    if (!a.made_by_shmpool) return "numpy";
    return a.creator_pid == 0 ? "unknown" : std::to_string(a.creator_pid);
}

nlohmann::ordered_json to_json(const array_info& a) {
    return {
        {"name", a.name},
        {"path", a.path},
        {"kind", a.kind},
        {"type", a.type},
        {"dtype", a.dtype},
        {"shape", a.shape},
        {"data_bytes", a.data_bytes},
        {"file_bytes", a.file_bytes},
        {"made_by_shmpool", a.made_by_shmpool},
        {"creator_pid", a.creator_pid},
        {"creator_alive", a.creator_alive},
        {"creator_elsewhere", a.creator_elsewhere},
        {"persistent", a.persistent},
        {"created_unix_ns", a.created_unix_ns},
        {"value",
         a.value.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(a.value)},
    };
}

bool is_array(const array_info& a) { return a.kind == "array"; }

table_row ls_row(const array_info& a) {
    const bool known = a.made_by_shmpool;
    return {a.name,
            a.kind,
            a.type,
            is_array(a) ? shape_text(a.shape) : "-",
            human_bytes(a.file_bytes),
            creator_text(a),
            known ? (a.creator_elsewhere ? "elsewhere" : a.creator_alive ? "yes" : "no") : "-",
            known ? (a.persistent ? "yes" : "no") : "-",
            a.value.empty() ? "-" : a.value};
}

array_info describe(const std::string& name) {
    return is_path(name) ? describe_array(file_path{name}) : describe_array(name);
}

void remove(const std::string& name) {
    if (is_path(name))
        remove_array(file_path{name});
    else
        remove_array(name);
}

}  // namespace

void run_ls(bool json) {
    const std::vector<array_info> arrays = list_arrays();
    if (json) {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const array_info& a : arrays) list.push_back(to_json(a));
        print_json({{"arrays", list}});
        return;
    }
    std::vector<table_row> rows{
        {"NAME", "KIND", "TYPE", "SHAPE", "BYTES", "CREATOR", "ALIVE", "PERSISTENT", "VALUE"}};
    for (const array_info& a : arrays) rows.push_back(ls_row(a));
    print_table(rows);
}

std::string creator_detail(const array_info& a) {
    if (!a.made_by_shmpool) return "unknown (no creator record: written by numpy)";
    if (a.creator_elsewhere)
        return creator_text(a) + " (of another host, or before the last boot: not checked here)";
    return creator_text(a) + (a.creator_alive ? " (running)" : " (no longer running)");
}

// A frozen store's columns (info), or an empty list when it cannot be opened.
std::vector<frozen_column_info> frozen_columns(const array_info& a) {
    try {
        return (is_path(a.name) ? frozen::open(file_path{a.name}) : frozen::open(a.name)).columns();
    } catch (const error&) {
        return {};
    }
}

nlohmann::ordered_json columns_json(const std::vector<frozen_column_info>& cols) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const frozen_column_info& c : cols)
        list.push_back({{"name", c.name},
                        {"kind", c.kind},
                        {"dtype", c.dtype},
                        {"shape", c.shape},
                        {"deduplicated", c.deduplicated},
                        {"keys", c.keys.empty() ? nlohmann::ordered_json(nullptr)
                                                : nlohmann::ordered_json(c.keys)},
                        {"bytes", c.bytes}});
    return list;
}

void print_columns(const std::vector<frozen_column_info>& cols) {
    std::vector<table_row> rows{{"COLUMN", "KIND", "DTYPE", "SHAPE", "BYTES", "NOTE"}};
    for (const frozen_column_info& c : cols)
        rows.push_back({c.name, c.kind, c.dtype, shape_text(c.shape), human_bytes(c.bytes),
                        !c.keys.empty() ? "keys: " + c.keys
                        : c.deduplicated ? "de-duplicated"
                                         : ""});
    std::cout << '\n';
    print_table(rows);
}

void run_info(const std::string& name, bool json) {
    const array_info a = describe(name);
    const std::vector<frozen_column_info> cols =
        a.kind == "frozen" ? frozen_columns(a) : std::vector<frozen_column_info>{};
    if (json) {
        nlohmann::ordered_json doc = to_json(a);
        if (a.kind == "frozen") doc["columns"] = columns_json(cols);
        print_json(doc);
        return;
    }
    std::size_t elements = 1;
    for (std::size_t n : a.shape) elements *= n;
    const auto bytes = [](std::size_t n) {
        return std::to_string(n) + " (" + human_bytes(n) + ")";
    };
    std::vector<table_row> rows{
        {"name:", a.name},
        {"path:", a.path},
        {"kind:", a.kind},
        {"type:", a.type},
    };
    if (!a.value.empty()) rows.push_back({"value:", a.value + " (read without its lock)"});
    if (is_array(a)) {
        rows.push_back({"shape:", shape_text(a.shape)});
        rows.push_back({"elements:", std::to_string(elements)});
    }
    for (table_row& r : std::vector<table_row>{
             {"data bytes:", bytes(a.data_bytes)},
             {"file bytes:", bytes(a.file_bytes)},
             {"made by:", a.made_by_shmpool ? "shmpool" : "numpy"},
             {"creator:", creator_detail(a)},
             {"persistent:", a.made_by_shmpool ? (a.persistent ? "yes" : "no") : "-"},
             {"created:", iso8601_utc(a.created_unix_ns)}})
        rows.push_back(std::move(r));
    print_table(rows);
    if (a.kind == "frozen") print_columns(cols);
}

int run_rm(const std::vector<std::string>& names) {
    int first_failure = exit_ok;
    for (const std::string& name : names) {
        const int code = guarded([&] {
            remove(name);
            std::cout << "removed " << name << '\n';
        });
        if (first_failure == exit_ok) first_failure = code;
    }
    return first_failure;
}

void run_gc(bool dry_run, bool json) {
    const std::vector<std::string> removed = collect_garbage(dry_run);
    if (json) {
        print_json({{"dry_run", dry_run}, {"removed", removed}});
        return;
    }
    if (removed.empty()) {
        std::cout << "nothing to remove\n";
        return;
    }
    for (const std::string& name : removed)
        std::cout << (dry_run ? "would remove " : "removed ") << name << '\n';
}

}  // namespace shmpool::cli
