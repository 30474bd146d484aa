// bench/stream, figure 2: zero-copy blocks. pool.imap_blocks<float> streams 256 x 256 float32
// blocks (256 KiB each) that the task fills in place in the ring (every element block_value(i):
// cheap work) and that the consumer sums in place, reading the ring where the workers wrote it;
// against the same sums over the same blocks in a warm shared array (filled by the workers once,
// read once by this process before the rounds): the memory bandwidth of one core summing blocks
// in place. Reported in GB/s of blocks summed: the time the consumer spends in the sums (its
// side of the stream: the target), and the consumer loop's wall time (waits for the producers
// included); with the library's default window (about 64 MiB of blocks: the ring outgrows the
// caches) and with a small one (--block-window, 16 blocks: a 4 MiB ring). The producer's work
// alone (the workers filling the warm array's blocks) is reported beside them: the wall rate
// cannot beat what the two stages' work allows together on the machine (about
// 1 / (1 / fill + 1 / sum) when its two vCPUs give one core's worth). Both sides run the same
// sum_block(); every block's sum is checked.
#include <algorithm>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "stream.hpp"

namespace stream_bench {

blocks_series::blocks_series(std::size_t window)
    : warm{"baseline: the same sums over a warm shared array", "GB/s", true, {}},
      wall{"imap_blocks, default window: consumer loop, wall (+ waits)", "GB/s", true, {}},
      sums{"imap_blocks, default window: the consumer's sums", "GB/s", true, {}},
      wall_small{"imap_blocks, window " + std::to_string(window) + ": consumer loop, wall (+ waits)",
                 "GB/s", true, {}},
      sums_small{"imap_blocks, window " + std::to_string(window) + ": the consumer's sums",
                 "GB/s", true, {}},
      fill{"producer alone: for_each filling the warm array", "GB/s", true, {}} {}

namespace {

// The sum block i must have.
double block_sum(std::size_t i) { return double(block_value(i)) * double(block_floats); }

void check_sum(double got, std::size_t i, const char* what) {
    if (got != block_sum(i))
        throw std::runtime_error(std::string("figure 2: ") + what + ": block " +
                                 std::to_string(i) + " sums to " + std::to_string(got) +
                                 ", expected " + std::to_string(block_sum(i)));
}

double gigabytes(std::size_t blocks) { return double(blocks * block_bytes) / 1e9; }

// Sums the blocks of the warm array in place; returns GB/s.
double warm_sums(const context& ctx) {
    const float* p = ctx.warm.data();
    const auto t = clock_type::now();
    double total = 0, expected = 0;
    for (std::size_t i = 0; i < ctx.n.blocks; ++i) {
        total += sum_block(p + i * block_floats);
        expected += block_sum(i);
    }
    const double seconds = seconds_since(t);
    if (total != expected) throw std::runtime_error("figure 2: the warm array's sums are wrong");
    return gigabytes(ctx.n.blocks) / seconds;
}

// Streams the blocks through imap_blocks (`window`: 0 for the default) and sums each in place;
// returns {wall, sums alone} in GB/s.
std::pair<double, double> stream_sums(const context& ctx, std::size_t window) {
    const shmpool::call_options opts = quiet();
    double in_sums = 0;
    std::size_t i = 0;
    const auto t = clock_type::now();
    for (const auto& block : ctx.pool.imap_blocks<float>(
             0, ctx.n.blocks, {block_side, block_side},
             [](std::size_t k, shmpool::block_out<float>& out) { out.fill(block_value(k)); },
             window, opts)) {
        const auto s = clock_type::now();
        const double sum = sum_block(block.data());
        in_sums += seconds_since(s);
        check_sum(sum, i++, "imap_blocks");
    }
    const double wall = seconds_since(t);
    if (i != ctx.n.blocks) throw std::runtime_error("figure 2: imap_blocks yielded too few blocks");
    return {gigabytes(ctx.n.blocks) / wall, gigabytes(ctx.n.blocks) / in_sums};
}

// The producer's work alone: the workers fill the blocks of the warm array in place, as the
// stream's tasks fill the ring's slots; returns GB/s.
double fill_blocks(shmpool::process_pool& pool, const shmpool::shared_array<float>& warm,
                   std::size_t blocks) {
    const auto t = clock_type::now();
    pool.for_each(
        0, blocks,
        [warm](std::size_t i) {
            std::fill_n(warm.data() + i * block_floats, block_floats, block_value(i));
        },
        quiet());
    return gigabytes(blocks) / seconds_since(t);
}

}  // namespace

void fill_warm_blocks(shmpool::process_pool& pool, const shmpool::shared_array<float>& warm,
                      std::size_t blocks) {
    fill_blocks(pool, warm, blocks);
    for (std::size_t i = 0; i < blocks; ++i)  // read once here: this process's pages are warm
        check_sum(sum_block(warm.data() + i * block_floats), i, "the warm array");
}

void blocks_step(const context& ctx, blocks_series& s) {
    const int round = static_cast<int>(s.warm.values.size());
    const std::vector<std::function<void()>> steps = {
        [&] { s.warm.values.push_back(warm_sums(ctx)); },
        [&] {
            const auto [wall, sums] = stream_sums(ctx, 0);
            s.wall.values.push_back(wall);
            s.sums.values.push_back(sums);
        },
        [&] {
            const auto [wall, sums] = stream_sums(ctx, ctx.n.block_window);
            s.wall_small.values.push_back(wall);
            s.sums_small.values.push_back(sums);
        },
        [&] { s.fill.values.push_back(fill_blocks(ctx.pool, ctx.warm, ctx.n.blocks)); },
    };
    for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + round) % steps.size()]();
}

void report_blocks(blocks_series& s) {
    const std::string& sec = blocks_section;
    add_figure(sec, s.warm);
    figure& f = add_figure(sec, s.sums, &s.warm);
    set_target(f, ">= 0.8x", f.ratio, 0.8, true);
    add_figure(sec, s.wall, &s.warm);
    figure& g = add_figure(sec, s.sums_small, &s.warm);
    set_target(g, ">= 0.8x", g.ratio, 0.8, true);
    add_figure(sec, s.wall_small, &s.warm);
    add_figure(sec, s.fill);
}

}  // namespace stream_bench
