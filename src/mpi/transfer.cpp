// The split of rows among hosts and ranks, block names, and the byte-level collectives the
// templates use (chunked: MPI counts are ints).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "mpi_support.hpp"
#include "shmpool/error.hpp"
#include "shmpool/mpi/cluster.hpp"
#include "shmpool/mpi/detail.hpp"

namespace shmpool::mpi::detail {
namespace {

constexpr std::size_t chunk_bytes = std::size_t{1} << 30;  // per message: under INT_MAX
constexpr int tag = 7321;

// Part k of n of [first, last), split evenly (the first (last - first) % n parts one longer).
row_span even_part(std::size_t first, std::size_t last, std::size_t k, std::size_t n) {
    const std::size_t rows = last - first, base = rows / n, extra = rows % n;
    const std::size_t begin = first + k * base + std::min(k, extra);
    return {begin, begin + base + (k < extra ? 1 : 0)};
}

// Calls move(offset, n) for each chunk of `bytes` (n under INT_MAX, as MPI counts are ints).
template <class Move>
void in_chunks(std::size_t bytes, Move move) {
    for (std::size_t done = 0; done < bytes; done += chunk_bytes)
        move(done, static_cast<int>(std::min(chunk_bytes, bytes - done)));
}

void send_bytes(cluster& c, const void* data, std::size_t bytes, int to) {
    const auto* p = static_cast<const char*>(data);
    in_chunks(bytes, [&](std::size_t at, int n) {
        check(MPI_Send(p + at, n, MPI_BYTE, to, tag, c.comm()), "MPI_Send");
    });
}

void receive_bytes(cluster& c, void* data, std::size_t bytes, int from) {
    auto* p = static_cast<char*>(data);
    in_chunks(bytes, [&](std::size_t at, int n) {
        check(MPI_Recv(p + at, n, MPI_BYTE, from, tag, c.comm(), MPI_STATUS_IGNORE), "MPI_Recv");
    });
}

// Every rank's two numbers, on rank 0 (2 x size() of them there).
std::vector<std::uint64_t> gather_pairs(cluster& c, std::uint64_t a, std::uint64_t b) {
    const std::uint64_t mine[2] = {a, b};
    std::vector<std::uint64_t> all(c.rank() == 0 ? 2 * static_cast<std::size_t>(c.size()) : 0);
    check(MPI_Gather(mine, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, 0, c.comm()), "MPI_Gather");
    return all;
}

}  // namespace

row_span rows_of_rank(const cluster& c, std::size_t first, std::size_t last) {
    return even_part(first, last, static_cast<std::size_t>(c.rank_on_host()),
                     static_cast<std::size_t>(c.ranks_on_host()));
}

row_span host_rows(const cluster& c, std::size_t rows, const std::vector<std::size_t>& split,
                   const std::string& what) {
    const auto hosts = static_cast<std::size_t>(c.hosts());
    const auto host = static_cast<std::size_t>(c.host());
    if (split.empty()) return even_part(0, rows, host, hosts);
    if (split.size() != hosts)
        throw invalid_argument_error(what + ": rows_per_host has " + std::to_string(split.size()) +
                                     " counts for " + std::to_string(hosts) +
                                     " hosts; give one count per host");
    const std::size_t sum = std::accumulate(split.begin(), split.end(), std::size_t{0});
    if (sum != rows)
        throw invalid_argument_error(what + ": rows_per_host sums to " + std::to_string(sum) +
                                     ", the array has " + std::to_string(rows) + " rows");
    const std::size_t begin = std::accumulate(split.begin(), split.begin() + host, std::size_t{0});
    return {begin, begin + split[host]};
}

std::string block_name(std::string_view name, int host, int hosts) {
    return std::string(name) + "@host" + std::to_string(host) + "of" + std::to_string(hosts);
}

std::string_view array_name_of_block(std::string_view block) {
    const std::size_t at = block.rfind("@host");
    if (at == std::string_view::npos) return block;
    const std::string_view tail = block.substr(at + 5);  // "HofN"
    const std::size_t of = tail.find("of");
    const auto digits = [](std::string_view d) {
        return !d.empty() && std::all_of(d.begin(), d.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    };
    if (of == std::string_view::npos || !digits(tail.substr(0, of)) || !digits(tail.substr(of + 2)))
        return block;
    return block.substr(0, at);
}

void gather_at_offsets(cluster& c, const void* data, std::size_t offset, std::size_t bytes,
                       void* out) {
    const std::vector<std::uint64_t> where = gather_pairs(c, offset, bytes);
    if (c.rank() != 0) {
        send_bytes(c, data, bytes, 0);
        return;
    }
    if (bytes) std::memcpy(static_cast<char*>(out) + offset, data, bytes);
    for (int r = 1; r < c.size(); ++r)
        receive_bytes(c, static_cast<char*>(out) + where[2 * r], where[2 * r + 1], r);
}

std::vector<std::vector<std::byte>> gather_bytes(cluster& c, const void* data, std::size_t bytes) {
    const std::vector<std::uint64_t> sizes = gather_pairs(c, bytes, 0);
    std::vector<std::vector<std::byte>> all;
    if (c.rank() != 0) {
        send_bytes(c, data, bytes, 0);
        return all;
    }
    all.resize(static_cast<std::size_t>(c.size()));
    all[0].resize(bytes);
    if (bytes) std::memcpy(all[0].data(), data, bytes);
    for (int r = 1; r < c.size(); ++r) {
        all[r].resize(sizes[2 * r]);
        receive_bytes(c, all[r].data(), all[r].size(), r);
    }
    return all;
}

void broadcast_bytes(cluster& c, void* data, std::size_t bytes) {
    auto* p = static_cast<char*>(data);
    in_chunks(bytes, [&](std::size_t at, int n) {
        check(MPI_Bcast(p + at, n, MPI_BYTE, 0, c.comm()), "MPI_Bcast");
    });
}

}  // namespace shmpool::mpi::detail
