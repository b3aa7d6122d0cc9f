// Greedy box NMS, computed exactly as torchvision's CPU kernel (nms_kernel.cpp) does, so that
// the kept indices are identical: stable descending sort of the scores, areas and IoU in the
// boxes' own precision T, and `iou > threshold` compared in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace mlpresets {

// Below this many boxes the plain pairwise loop is as fast as the x1 window.
constexpr size_t kWindowMinBoxes = 32;

// Indices of `scores` sorted by decreasing score, ties kept in index order (torch's stable sort).
inline std::vector<int64_t> order_by_score(const double* scores, int64_t n) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [scores](int64_t a, int64_t b) { return scores[a] > scores[b]; });
    return order;
}

// Greedy NMS over the rows listed in `order` (already sorted by decreasing score).
// boxes: (N, 4) x1 y1 x2 y2, row-major. Returns the kept rows, in `order`'s order.
template <typename T>
std::vector<int64_t> nms_ordered(const T* boxes, const std::vector<int64_t>& order,
                                 double iou_threshold) {
    const size_t n = order.size();
    // Gather the listed boxes contiguously (structure of arrays), as torchvision's kernel reads
    // them: x1[k] .. y2[k] and area[k] belong to row order[k].
    std::vector<T> x1(n), y1(n), x2(n), y2(n), area(n);
    for (size_t k = 0; k < n; ++k) {
        const T* b = boxes + 4 * order[k];
        x1[k] = b[0];
        y1[k] = b[1];
        x2[k] = b[2];
        y2[k] = b[3];
        area[k] = (x2[k] - x1[k]) * (y2[k] - y1[k]);
    }
    std::vector<uint8_t> suppressed(n, 0);
    std::vector<int64_t> keep;
    auto suppresses = [&](size_t i, size_t j) {  // torchvision's arithmetic, in T
        const T w = std::max(static_cast<T>(0), std::min(x2[i], x2[j]) - std::max(x1[i], x1[j]));
        const T h = std::max(static_cast<T>(0), std::min(y2[i], y2[j]) - std::max(y1[i], y1[j]));
        const T inter = w * h;
        const T iou = inter / (area[i] + area[j] - inter);  // NaN for two empty boxes: kept
        return static_cast<double>(iou) > iou_threshold;
    };
    if (iou_threshold >= 0 && n >= kWindowMinBoxes) {
        // Same decisions, fewer pairs: with a threshold >= 0 only boxes that overlap can
        // suppress each other (no overlap: IoU 0, -0 or NaN, never > threshold), and box j can
        // only overlap box i if x1[j] lies in (x1[i] - widest box, x2[i]). Visit just those,
        // found by binary search among the boxes sorted by x1.
        std::vector<size_t> by_x1(n);
        std::iota(by_x1.begin(), by_x1.end(), size_t{0});
        std::sort(by_x1.begin(), by_x1.end(), [&](size_t a, size_t b) { return x1[a] < x1[b]; });
        std::vector<double> sorted_x1(n);
        double widest = 0.0;
        for (size_t k = 0; k < n; ++k) {
            sorted_x1[k] = static_cast<double>(x1[by_x1[k]]);
            widest = std::max(widest, static_cast<double>(x2[k]) - static_cast<double>(x1[k]));
        }
        for (size_t i = 0; i < n; ++i) {
            if (suppressed[i]) continue;
            keep.push_back(order[i]);
            const double left = static_cast<double>(x1[i]), right = static_cast<double>(x2[i]);
            // a margin far above rounding keeps the window a superset of the overlapping boxes
            const double lo = left - widest - 1e-9 * (std::fabs(left) + widest);
            auto first = std::lower_bound(sorted_x1.begin(), sorted_x1.end(), lo);
            auto last = std::lower_bound(first, sorted_x1.end(), right);
            for (auto it = first; it != last; ++it) {
                const size_t j = by_x1[static_cast<size_t>(it - sorted_x1.begin())];
                if (j > i && !suppressed[j] && suppresses(i, j)) suppressed[j] = 1;
            }
        }
        return keep;
    }
    for (size_t i = 0; i < n; ++i) {
        if (suppressed[i]) continue;
        keep.push_back(order[i]);
        for (size_t j = i + 1; j < n; ++j) {
            if (!suppressed[j] && suppresses(i, j)) suppressed[j] = 1;
        }
    }
    return keep;
}

template <typename T>
std::vector<int64_t> nms(const T* boxes, const double* scores, int64_t n, double iou_threshold) {
    return nms_ordered(boxes, order_by_score(scores, n), iou_threshold);
}

// NMS within each class: a box only suppresses boxes of its own class. The result is sorted
// by decreasing score, ties by index, as torchvision.ops.batched_nms returns it.
template <typename T>
std::vector<int64_t> batched_nms(const T* boxes, const double* scores, const int64_t* classes,
                                 int64_t n, double iou_threshold) {
    const std::vector<int64_t> order = order_by_score(scores, n);
    // Split the global order by class; each part stays sorted by score.
    std::vector<int64_t> by_class(order);
    std::stable_sort(by_class.begin(), by_class.end(),
                     [classes](int64_t a, int64_t b) { return classes[a] < classes[b]; });
    std::vector<int64_t> keep;
    for (size_t start = 0; start < by_class.size();) {
        size_t stop = start;
        while (stop < by_class.size() && classes[by_class[stop]] == classes[by_class[start]]) ++stop;
        const std::vector<int64_t> part(by_class.begin() + static_cast<std::ptrdiff_t>(start),
                                        by_class.begin() + static_cast<std::ptrdiff_t>(stop));
        const std::vector<int64_t> kept = nms_ordered(boxes, part, iou_threshold);
        keep.insert(keep.end(), kept.begin(), kept.end());
        start = stop;
    }
    std::sort(keep.begin(), keep.end());  // index order, then a stable sort by score
    std::stable_sort(keep.begin(), keep.end(),
                     [scores](int64_t a, int64_t b) { return scores[a] > scores[b]; });
    return keep;
}

}  // namespace mlpresets
