// Exact intersection-over-union of two quadrilaterals.
//
// A quad is 8 numbers x0 y0 x1 y1 x2 y2 x3 y3, its vertices in order, either orientation.
//  - convex quads: exact (Sutherland-Hodgman clipping of one convex polygon by the other);
//  - simple non-convex quads (one reflex vertex): exact too, split into two triangles along
//    the diagonal from the reflex vertex, and the pieces' intersections summed;
//  - self-intersecting ("bow-tie") vertex orders are read as the simple quad through the same
//    four points (the two vertices of a crossing edge pair swapped);
//  - degenerate quads (zero area: repeated or collinear points) have IoU 0 with everything;
//  - vertices closer than 1e-9 of the quad's size to the previous one, or whose edges turn by
//    less than 1e-9, are dropped first (a quad that is really a triangle is one).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>

namespace mlpresets {

struct Pt {
    double x, y;
};

// Twice the signed area of the triangle (o, a, b): > 0 when o -> a -> b turns left.
inline double cross(const Pt& o, const Pt& a, const Pt& b) {
    return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

inline double signed_area(const Pt* p, int n) {
    double twice = 0.0;
    for (int i = 0; i < n; ++i) {
        const Pt& a = p[i];
        const Pt& b = p[(i + 1) % n];
        twice += a.x * b.y - b.x * a.y;
    }
    return 0.5 * twice;
}

// Relative tolerance of the shape tests below: turns and gaps under it count as none.
constexpr double kShapeEps = 1e-9;

// Distance between two points of a shape scaled to unit size (no overflow: plain sqrt).
inline double dist(const Pt& a, const Pt& b) {
    return std::sqrt((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y));
}

// Which side of o -> a the point b lies on: +1 left, -1 right, 0 within kShapeEps (relative).
inline int side(const Pt& o, const Pt& a, const Pt& b) {
    const double c = cross(o, a, b);
    const double tol = kShapeEps * dist(o, a) * dist(o, b);
    return c > tol ? 1 : (c < -tol ? -1 : 0);
}

// Segments ab and cd cross at a point interior to both (touching does not count).
inline bool segments_cross(const Pt& a, const Pt& b, const Pt& c, const Pt& d) {
    return side(a, b, c) * side(a, b, d) < 0 && side(c, d, a) * side(c, d, b) < 0;
}

// Area of the intersection of two convex counter-clockwise polygons (Sutherland-Hodgman).
// Each clipping edge at most doubles the vertex count, so 3 or 4 vertices clipped by 4 edges
// never exceed 4 * 2^4 = 64, whatever the rounding does near collinear edges.
inline double convex_intersection_area(const Pt* a, int na, const Pt* b, int nb) {
    std::array<Pt, 64> buf_in{}, buf_out{};
    std::copy(a, a + na, buf_in.begin());
    int n = na;
    for (int e = 0; e < nb && n > 0; ++e) {
        const Pt& p0 = b[e];
        const Pt& p1 = b[(e + 1) % nb];
        int m = 0;
        for (int k = 0; k < n; ++k) {
            const Pt& cur = buf_in[k];
            const Pt& prev = buf_in[(k + n - 1) % n];
            const double dc = cross(p0, p1, cur);  // >= 0: inside (left of the edge)
            const double dp = cross(p0, p1, prev);
            if ((dc >= 0) != (dp >= 0)) {  // the side changes: add the crossing point
                const double t = dp / (dp - dc);
                buf_out[m++] = {prev.x + t * (cur.x - prev.x), prev.y + t * (cur.y - prev.y)};
            }
            if (dc >= 0) buf_out[m++] = cur;
        }
        std::swap(buf_in, buf_out);
        n = m;
    }
    return n < 3 ? 0.0 : std::max(0.0, signed_area(buf_in.data(), n));
}

// A quad prepared for IoU: its convex pieces (the quad, a triangle, or two triangles), its
// bounding box, and an anchor point that the pieces are stored relative to.
//
// Robustness: vertices within 1e-9 of the quad's size of the previous one are dropped, and
// so are vertices whose two edges turn by less than 1e-9 (collinear); what is left is a
// triangle or a quad whose convexity test is not decided by rounding. IoU is computed in a
// frame translated to a common anchor and scaled by a power of two (exact) to unit size, so
// neither far-off nor tiny nor huge coordinates lose the area to rounding or underflow.
struct Shape {
    std::array<std::array<Pt, 4>, 2> piece{};
    std::array<int, 2> piece_size{};
    int pieces = 0;
    double x_min = 0.0, y_min = 0.0, x_max = 0.0, y_max = 0.0;
};

inline Shape make_shape(const double* q) {
    Shape s;
    std::array<Pt, 4> p{Pt{q[0], q[1]}, Pt{q[2], q[3]}, Pt{q[4], q[5]}, Pt{q[6], q[7]}};
    s.x_min = std::min({p[0].x, p[1].x, p[2].x, p[3].x});
    s.x_max = std::max({p[0].x, p[1].x, p[2].x, p[3].x});
    s.y_min = std::min({p[0].y, p[1].y, p[2].y, p[3].y});
    s.y_max = std::max({p[0].y, p[1].y, p[2].y, p[3].y});
    const double size = std::max(s.x_max - s.x_min, s.y_max - s.y_min);
    if (!(size > 0) || !std::isfinite(size)) return s;  // a point (or overflow): no pieces
    // Work relative to the first vertex, scaled to unit size: exact, and it keeps the cross
    // products below in a range where they neither underflow nor cancel.
    const Pt anchor = p[0];
    const double scale = std::ldexp(1.0, -std::ilogb(size));
    for (Pt& v : p) v = {(v.x - anchor.x) * scale, (v.y - anchor.y) * scale};
    if (segments_cross(p[0], p[1], p[2], p[3])) {  // bow-tie: the simple quad, same points
        std::swap(p[1], p[2]);
    } else if (segments_cross(p[1], p[2], p[3], p[0])) {
        std::swap(p[2], p[3]);
    }
    if (signed_area(p.data(), 4) < 0) std::swap(p[1], p[3]);  // counter-clockwise
    // Drop repeated and collinear vertices (scaled size is in [1, 2)).
    constexpr double eps = kShapeEps;
    std::array<Pt, 4> v{};
    int n = 4;
    std::copy(p.begin(), p.end(), v.begin());
    for (bool changed = true; changed && n >= 3;) {
        changed = false;
        for (int i = 0; i < n; ++i) {
            const Pt& prev = v[(i + n - 1) % n];
            const Pt& cur = v[i];
            const Pt& next = v[(i + 1) % n];
            const double e1 = dist(prev, cur), e2 = dist(cur, next);
            if (e1 <= eps || std::fabs(cross(prev, cur, next)) <= eps * e1 * e2) {
                std::copy(v.begin() + i + 1, v.begin() + n, v.begin() + i);
                --n;
                changed = true;
                break;
            }
        }
    }
    if (n < 3 || !(signed_area(v.data(), n) > 0)) return s;  // degenerate: no pieces
    int reflex = -1;  // a triangle of positive area has none; a simple quad at most one
    for (int i = 0; n == 4 && i < 4; ++i) {
        if (cross(v[(i + 3) % 4], v[i], v[(i + 1) % 4]) < 0) reflex = i;
    }
    for (Pt& w : v) w = {w.x / scale + anchor.x, w.y / scale + anchor.y};  // back, for storage
    if (reflex < 0) {
        s.piece[0] = v;
        s.piece_size[0] = n;
        s.pieces = 1;
    } else {  // a quad with one reflex vertex: the diagonal from it lies inside
        const int r = reflex;
        s.piece[0] = {v[r], v[(r + 1) % 4], v[(r + 2) % 4], Pt{}};
        s.piece[1] = {v[r], v[(r + 2) % 4], v[(r + 3) % 4], Pt{}};
        s.piece_size = {3, 3};
        s.pieces = 2;
    }
    return s;
}

// IoU of two prepared quads; NaN when their extent overflows (the wrapper refuses that).
inline double shape_iou(const Shape& a, const Shape& b) {
    if (a.pieces == 0 || b.pieces == 0) return 0.0;
    if (a.x_max <= b.x_min || b.x_max <= a.x_min || a.y_max <= b.y_min || b.y_max <= a.y_min) {
        return 0.0;
    }
    const double x0 = std::min(a.x_min, b.x_min), y0 = std::min(a.y_min, b.y_min);
    const double size = std::max(std::max(a.x_max, b.x_max) - x0, std::max(a.y_max, b.y_max) - y0);
    if (!std::isfinite(size)) return std::nan("");
    const double scale = std::ldexp(1.0, -std::ilogb(size));
    auto local = [&](const Shape& sh, int k) {
        std::array<Pt, 4> out{};
        for (int i = 0; i < sh.piece_size[k]; ++i) {
            out[i] = {(sh.piece[k][i].x - x0) * scale, (sh.piece[k][i].y - y0) * scale};
        }
        return out;
    };
    std::array<std::array<Pt, 4>, 2> pa{}, pb{};
    for (int k = 0; k < a.pieces; ++k) pa[k] = local(a, k);
    for (int k = 0; k < b.pieces; ++k) pb[k] = local(b, k);
    double area_a = 0.0, area_b = 0.0, inter = 0.0;
    for (int i = 0; i < a.pieces; ++i) area_a += signed_area(pa[i].data(), a.piece_size[i]);
    for (int j = 0; j < b.pieces; ++j) area_b += signed_area(pb[j].data(), b.piece_size[j]);
    for (int i = 0; i < a.pieces; ++i) {
        for (int j = 0; j < b.pieces; ++j) {
            inter += convex_intersection_area(pa[i].data(), a.piece_size[i], pb[j].data(),
                                              b.piece_size[j]);
        }
    }
    inter = std::min(inter, std::min(area_a, area_b));  // rounding never makes IoU exceed 1
    const double uni = area_a + area_b - inter;
    return uni > 0 ? inter / uni : 0.0;
}

inline double quad_iou(const double* a, const double* b) {
    return shape_iou(make_shape(a), make_shape(b));
}

}  // namespace mlpresets
