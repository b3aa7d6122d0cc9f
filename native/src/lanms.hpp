// Locality-aware NMS (EAST, Zhou et al. 2017; used by FOTS) over quadrilaterals.
//
// 1. Walk the rows in the given order (EAST feeds them row by row of the score map). While a
//    quad's IoU with the previous kept quad exceeds the threshold, merge it in: coordinates
//    become the score-weighted mean of every quad merged so far, scores are summed.
// 2. Standard greedy NMS on the merged quads, by decreasing (summed) score, ties by position.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <vector>

#include "polygon.hpp"

namespace mlpresets {

struct MergedQuad {
    double score = 0.0;              // sum of the merged scores
    std::array<double, 8> coords{};  // score-weighted mean of the merged quads
    Shape shape;

    // A running weighted mean: no score * coordinate products, so no overflow for large
    // scores and no underflow for tiny ones (a single quad comes back exactly).
    void add(const double* q, double s) {
        score += s;
        const double w = s / score;
        for (int k = 0; k < 8; ++k) coords[k] += w * (q[k] - coords[k]);
        shape = make_shape(coords.data());
    }
};

struct LanmsResult {
    std::vector<double> quads;  // (K, 8)
    std::vector<double> scores;  // (K,)
};

inline LanmsResult locality_aware_nms(const double* quads, const double* scores, int64_t n,
                                      double iou_threshold) {
    std::vector<MergedQuad> merged;
    for (int64_t i = 0; i < n; ++i) {
        const double* q = quads + 8 * i;
        if (!merged.empty() && shape_iou(merged.back().shape, make_shape(q)) > iou_threshold) {
            merged.back().add(q, scores[i]);
        } else {
            merged.emplace_back();
            merged.back().add(q, scores[i]);
        }
    }
    std::vector<size_t> order(merged.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&merged](size_t a, size_t b) { return merged[a].score > merged[b].score; });
    std::vector<uint8_t> suppressed(merged.size(), 0);
    LanmsResult out;
    for (size_t i = 0; i < order.size(); ++i) {
        if (suppressed[i]) continue;
        const MergedQuad& kept = merged[order[i]];
        out.quads.insert(out.quads.end(), kept.coords.begin(), kept.coords.end());
        out.scores.push_back(kept.score);
        for (size_t j = i + 1; j < order.size(); ++j) {
            if (!suppressed[j] && shape_iou(kept.shape, merged[order[j]].shape) > iou_threshold) {
                suppressed[j] = 1;
            }
        }
    }
    return out;
}

}  // namespace mlpresets
