// Agreement on a collective call's outcome: every rank learns whether any failed, and the
// lowest failing rank's error is thrown everywhere; the atomic creation of per-host blocks.
#include <cxxabi.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

#include "mpi_support.hpp"
#include "shmpool/mpi/cluster.hpp"
#include "shmpool/mpi/detail.hpp"

namespace shmpool::mpi::detail {
namespace {

std::string demangled(const std::type_info& t) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(
        abi::__cxa_demangle(t.name(), nullptr, nullptr, &status), std::free);
    return status == 0 && name ? std::string(name.get()) : std::string(t.name());
}

// What a rank tells the others of its failure.
struct failure_report {
    std::string type, what;
    std::optional<std::size_t> row;
    int host = 0;
    std::string host_name;
};

failure_report describe(const std::exception_ptr& e) {
    failure_report r;
    try {
        std::rethrow_exception(e);
    } catch (const worker_error& w) {
        r.type = demangled(typeid(w)), r.what = w.what(), r.row = w.index();
    } catch (const worker_died_error& d) {
        r.type = demangled(typeid(d)), r.what = d.what();
        if (!d.not_completed().empty()) r.row = d.not_completed().front().begin;
    } catch (const std::exception& x) {
        r.type = demangled(typeid(x)), r.what = x.what();
    } catch (...) {
        r.type = "an exception of an unknown type";
    }
    return r;
}

// The report as text: type, what, row ("-" for none), host, host name, each ended by a NUL.
std::string encode(const failure_report& r) {
    return r.type + '\0' + r.what + '\0' + (r.row ? std::to_string(*r.row) : "-") + '\0' +
           std::to_string(r.host) + '\0' + r.host_name + '\0';
}

failure_report decode(const std::string& text) {
    std::vector<std::string> fields;
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t end = text.find('\0', at);
        fields.push_back(text.substr(at, end - at));
        at = end == std::string::npos ? text.size() : end + 1;
    }
    fields.resize(5);
    failure_report r{fields[0], fields[1], std::nullopt,
                     static_cast<int>(std::strtol(fields[3].c_str(), nullptr, 10)), fields[4]};
    if (fields[2] != "-") r.row = std::strtoull(fields[2].c_str(), nullptr, 10);
    return r;
}

// Rank `from`'s text, on every rank.
std::string broadcast_text(cluster& c, std::string text, int from) {
    std::uint64_t length = text.size();
    check(MPI_Bcast(&length, 1, MPI_UINT64_T, from, c.comm()), "MPI_Bcast");
    text.resize(length);
    check(MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, from, c.comm()), "MPI_Bcast");
    return text;
}

// Some rank failed (`failed` of them): every rank throws the lowest failing rank's error.
[[noreturn]] void throw_agreed(cluster& c, const std::exception_ptr& local, int failed,
                               const std::string& call) {
    int mine = local ? c.rank() : c.size(), first = 0;
    check(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, c.comm()), "MPI_Allreduce");
    std::string text;
    if (c.rank() == first) {
        failure_report mine_report = describe(local);
        mine_report.host = c.host();
        mine_report.host_name = c.host_name();
        text = encode(mine_report);
    }
    const failure_report r = decode(broadcast_text(c, text, first));
    std::string what = "shmpool::mpi: " + call + " failed on host " + std::to_string(r.host) +
                       " (" + r.host_name + "), rank " + std::to_string(first);
    if (r.row) what += ", row " + std::to_string(*r.row);
    what += ": " + r.type + ": " + r.what;
    if (failed > 1)
        what += " (" + std::to_string(failed - 1) + " other rank" + (failed > 2 ? "s" : "") +
                " failed too)";
    throw cluster_error(what, r.host, first, r.row, r.type, r.what, failed);
}

}  // namespace

call_result agree_call(cluster& c, const call_result& local, const std::exception_ptr& failure,
                       const std::string& call) {
    // One reduction on success: failures, completed, workers died, cancelled.
    std::uint64_t mine[4] = {failure ? 1u : 0u, local.completed, local.workers_died,
                             local.cancelled ? 1u : 0u};
    std::uint64_t sum[4] = {};
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Iallreduce(mine, sum, 4, MPI_UINT64_T, MPI_SUM, c.comm(), &request), "MPI_Iallreduce");
    wait_without_spinning(request);
    if (sum[0] > 0) throw_agreed(c, failure, static_cast<int>(sum[0]), call);
    call_result all;
    all.completed = sum[1];
    all.workers_died = sum[2];
    all.cancelled = sum[3] > 0;
    all.rerun = local.rerun;
    return all;
}

void agree(cluster& c, const std::exception_ptr& local, const std::string& call) {
    agree_call(c, call_result{}, local, call);
}

void check_same_everywhere(cluster& c, const std::string& description, const std::string& what) {
    const std::string first = broadcast_text(c, c.rank() == 0 ? description : "", 0);
    std::exception_ptr mismatch;
    if (first != description)
        mismatch = std::make_exception_ptr(invalid_argument_error(
            what + ": this rank passed " + description + ", rank 0 passed " + first +
            "; every rank must pass the same arguments to a collective call"));
    agree(c, mismatch, what);
}

void create_blocks(cluster& c, const std::string& what, const std::function<void()>& create,
                   const std::function<void()>& open, const std::function<void()>& remove) {
    std::exception_ptr failure;
    bool created = false;
    const bool leader = c.rank_on_host() == 0;
    if (leader) {
        try {
            create();
            created = true;
        } catch (...) {
            failure = std::current_exception();
        }
    }
    int ok = created ? 1 : 0;  // the other ranks of the host open the block once it exists
    check(MPI_Bcast(&ok, 1, MPI_INT, 0, c.host_comm()), "MPI_Bcast");
    if (!leader && ok) {
        try {
            open();
        } catch (...) {
            failure = std::current_exception();
        }
    }
    try {
        agree(c, failure, "the creation of " + what);
    } catch (const cluster_error&) {
        if (created) {
            try {
                remove();  // every host has its block, or none has
            } catch (const error&) {
            }
        }
        // No rank returns before its host's block is gone again.
        check(MPI_Barrier(c.host_comm()), "MPI_Barrier");
        throw;
    }
}

}  // namespace shmpool::mpi::detail
