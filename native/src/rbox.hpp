// RBOX geometry (EAST/FOTS) back to quadrilaterals.
//
// A pixel at origin (x, y) predicts the distances to the top, right, bottom and left sides of
// its text rectangle and the rectangle's angle theta (radians). In image coordinates (x right,
// y down) the rectangle's own axes are right = (cos theta, sin theta) and
// down = (-sin theta, cos theta), so a positive theta turns the box clockwise on screen. The
// quad is returned as top-left, top-right, bottom-right, bottom-left.
#pragma once

#include <cmath>
#include <cstdint>

namespace mlpresets {

inline void restore_rbox(const double* origins, const double* geometry, int64_t n, double* out) {
    for (int64_t i = 0; i < n; ++i) {
        const double x = origins[2 * i], y = origins[2 * i + 1];
        const double* g = geometry + 5 * i;
        const double top = g[0], right = g[1], bottom = g[2], left = g[3];
        const double c = std::cos(g[4]), s = std::sin(g[4]);
        // corner = origin + a * (c, s) + d * (-s, c) for a in {-left, right}, d in {-top, bottom}
        double* q = out + 8 * i;
        q[0] = x - left * c + top * s;  // top-left
        q[1] = y - left * s - top * c;
        q[2] = x + right * c + top * s;  // top-right
        q[3] = y + right * s - top * c;
        q[4] = x + right * c - bottom * s;  // bottom-right
        q[5] = y + right * s + bottom * c;
        q[6] = x - left * c - bottom * s;  // bottom-left
        q[7] = y - left * s + bottom * c;
    }
}

}  // namespace mlpresets
