// The helpers the README's snippets call, so that they compile and run as one program (see
// extract_snippets.py).
#pragma once

#include <cstdio>
#include <exception>
#include <numeric>
#include <vector>

/// Data "loaded" from somewhere: 1000 numbers.
inline std::vector<double> load() {
    std::vector<double> v(1000);
    std::iota(v.begin(), v.end(), 0.0);
    return v;
}
/// Repairs what a dead holder of a lock left half-done.
inline void repair() {}
/// Recounts a counter after its holder died.
inline long recount() { return 0; }
