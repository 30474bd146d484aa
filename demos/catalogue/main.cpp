// The sharedbuffers talk's catalogue: a few million items (a name, tags, a feature vector,
// references to related items, a price) built once into a frozen store, then queried by a pool
// of workers that read it in place. It prints the store's size against the payload and against
// the same data in Boost.Interprocess containers, the lookups per second, and the one-copy
// proof of `shmpool mem` (the sum of the processes' PSS of the store is one copy). Then the
// second layer: changes and new items go into a layered_store's overlay, the workers read them
// through it, and a compaction folds them into a new base under the same name.
//
// Self-check (non-zero exit when one fails): every lookup finds its own row, and reads the
// changed price where there is one; the store is held once; the new items are in the new base.
//
// The files: main.cpp (options, the steps), build.cpp (the items, the store, the Boost copy),
// queries.cpp (the lookups in the pool).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <shmpool/frozen_builder.hpp>
#include <shmpool/memory.hpp>

#include "catalogue.hpp"

using namespace catalogue;

namespace {

options parse(int argc, char** argv) {
    options o;
    CLI::App app{"A catalogue in a frozen store, read in place by a pool; updates in an overlay"};
    app.add_option("--items", o.items, "items in the catalogue")
        ->check(CLI::Range(std::size_t{10}, std::size_t{1} << 32))
        ->capture_default_str();
    app.add_option("--workers", o.workers, "pool workers")->check(CLI::Range(1, 256))->capture_default_str();
    app.add_option("--lookups", o.lookups, "lookups per round")->capture_default_str();
    app.add_option("--updates", o.updates, "puts into the overlay (changes and new items)")
        ->capture_default_str();
    app.add_flag("!--no-boost", o.boost, "skip the Boost containers' copy");
    app.add_option("--name", o.name, "the store's name (default catalogue_PID)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::exit(app.exit(e));
    }
    if (o.name.empty()) o.name = "catalogue_" + std::to_string(::getpid());
    return o;
}

double mb(double bytes) { return bytes / 1e6; }

// The one-copy proof, as `shmpool mem NAME` prints it. Returns whether it holds.
bool one_copy(const std::string& name) {
    const shmpool::memory_report r = shmpool::inspect_memory_of_segment(name);
    for (const shmpool::segment_memory& s : r.segments) {
        std::printf("  %zu processes map the store: %s\n", s.processes.size(), s.verdict.c_str());
        return s.one_copy;
    }
    return false;
}

// The overlay's round: puts, lookups through it, a compaction, lookups again.
bool overlay_round(const options& o, shmpool::process_pool& pool) {
    const auto store = shmpool::layered_store::create(o.name, "by_name", std::size_t{64} << 20);
    const std::size_t changed = o.updates / 2, added = o.updates - changed;
    auto start = clock_type::now();
    for (std::size_t k = 0; k < changed; ++k)
        store.put(item_name(2 * k), shmpool::row_update().set("price", changed_price(2 * k)));
    for (std::size_t k = 0; k < added; ++k) {
        const item it = make_item(k, o.items);
        store.put("new-" + std::to_string(k), shmpool::row_update()
                                                  .set("tags", it.tags)
                                                  .set("features", it.features)
                                                  .set("related", it.related)
                                                  .set("price", it.price));
    }
    std::printf("overlay: %zu puts (%zu changes, %zu new items) in %.3f s\n", o.updates, changed,
                added, seconds_since(start));
    const lookup_figures before = layered_lookups(pool, store, o.items, o.lookups, changed);
    std::printf("  lookups through overlay + base: %.2f M/s\n", before.per_second / 1e6);
    start = clock_type::now();
    const shmpool::frozen base = store.compact();
    std::printf("compaction: a new base of %zu rows under '%s' in %.3f s\n", base.rows(),
                o.name.c_str(), seconds_since(start));
    const lookup_figures after = layered_lookups(pool, store, o.items, o.lookups, changed);
    std::printf("  lookups after it (overlay empty): %.2f M/s\n", after.per_second / 1e6);
    const bool ok = base.rows() == o.items + added && store.overlay_rows() == 0 &&
                    (added == 0 || base.index("by_name").contains("new-0"));
    if (!ok) std::printf("FAILED: the new base lacks the overlay's rows\n");
    return ok;
}

bool run(const options& o) {
    const double payload = static_cast<double>(payload_bytes(o.items));
    std::printf("catalogue of %zu items, %.1f MB of payload\n", o.items, mb(payload));
    const double build = build_store(o.name, o.items);
    const shmpool::frozen store = shmpool::frozen::open(o.name);
    const auto bytes = static_cast<double>(store.bytes());
    std::printf("frozen store '%s': built in %.2f s, %.1f MB = %.2fx the payload\n",
                o.name.c_str(), build, mb(bytes), bytes / payload);
    if (o.boost) {
        const boost_figures b = build_boost_copy(o.name + "_boost", o.items);
        std::printf("the same in Boost containers (unordered_map in a managed heap): %.2f s, "
                    "%.1f MB = %.2fx the payload (the store is %.2fx smaller)\n",
                    b.seconds, mb(b.bytes), b.bytes / payload, b.bytes / bytes);
    }
    shmpool::process_pool pool(o.workers);
    const lookup_figures f = frozen_lookups(pool, store, o.items, o.lookups);
    std::printf("%zu workers: %zu lookups (name, tags, features, related names) at %.2f M/s\n",
                o.workers, f.lookups, f.per_second / 1e6);
    const bool single = one_copy(o.name);
    if (!single) std::printf("FAILED: the store is not held once\n");
    return overlay_round(o, pool) && single;
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    int rc = 1;
    try {
        rc = run(o) ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "catalogue: %s\n", e.what());
    }
    try {
        shmpool::layered_store::remove(o.name);
    } catch (const shmpool::not_found_error&) {
    }
    std::printf("%s\n", rc == 0 ? "OK" : "FAILED");
    return rc;
}
