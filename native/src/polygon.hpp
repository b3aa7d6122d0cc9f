// Exact intersection-over-union of two quadrilaterals.
//
// A quad is 8 numbers x0 y0 x1 y1 x2 y2 x3 y3, its vertices in order, either orientation.
//  - convex quads: exact (Sutherland-Hodgman clipping of one convex polygon by the other);
//  - simple non-convex quads (one reflex vertex): exact too, split into two triangles along
//    the diagonal from the reflex vertex, and the pieces' intersections summed;
//  - self-intersecting ("bow-tie") vertex orders are read as the simple quad through the same
//    four points (the two vertices of a crossing edge pair swapped);
//  - degenerate quads (zero area: repeated or collinear points) have IoU 0 with everything.
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

// Segments ab and cd cross at a point interior to both (touching does not count).
inline bool segments_cross(const Pt& a, const Pt& b, const Pt& c, const Pt& d) {
    const double o1 = cross(a, b, c), o2 = cross(a, b, d);
    const double o3 = cross(c, d, a), o4 = cross(c, d, b);
    return ((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) && ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0));
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

// A quad prepared for IoU: its convex pieces (the quad itself, or two triangles), its area and
// its bounding box.
struct Shape {
    std::array<std::array<Pt, 4>, 2> piece{};
    std::array<int, 2> piece_size{};
    int pieces = 0;
    double area = 0.0;
    double x_min = 0.0, y_min = 0.0, x_max = 0.0, y_max = 0.0;
};

inline Shape make_shape(const double* q) {
    std::array<Pt, 4> p{Pt{q[0], q[1]}, Pt{q[2], q[3]}, Pt{q[4], q[5]}, Pt{q[6], q[7]}};
    Shape s;
    s.x_min = std::min({p[0].x, p[1].x, p[2].x, p[3].x});
    s.x_max = std::max({p[0].x, p[1].x, p[2].x, p[3].x});
    s.y_min = std::min({p[0].y, p[1].y, p[2].y, p[3].y});
    s.y_max = std::max({p[0].y, p[1].y, p[2].y, p[3].y});
    if (segments_cross(p[0], p[1], p[2], p[3])) {
        std::swap(p[1], p[2]);
    } else if (segments_cross(p[1], p[2], p[3], p[0])) {
        std::swap(p[2], p[3]);
    }
    double area = signed_area(p.data(), 4);
    if (area < 0) {  // clockwise: reverse to counter-clockwise
        std::swap(p[1], p[3]);
        area = -area;
    }
    s.area = area;
    if (!(area > 0)) return s;  // degenerate: no pieces, IoU 0
    int reflex = -1;
    for (int i = 0; i < 4; ++i) {
        if (cross(p[(i + 3) % 4], p[i], p[(i + 1) % 4]) < 0) reflex = i;
    }
    if (reflex < 0) {
        s.piece[0] = p;
        s.piece_size[0] = 4;
        s.pieces = 1;
    } else {  // the diagonal from the reflex vertex lies inside: two triangles
        const int r = reflex;
        s.piece[0] = {p[r], p[(r + 1) % 4], p[(r + 2) % 4], Pt{}};
        s.piece[1] = {p[r], p[(r + 2) % 4], p[(r + 3) % 4], Pt{}};
        s.piece_size = {3, 3};
        s.pieces = 2;
    }
    return s;
}

inline double shape_iou(const Shape& a, const Shape& b) {
    // Coordinates beyond ~1e150 overflow the area: NaN, which the Python wrapper refuses and
    // which never passes an IoU threshold.
    if (!std::isfinite(a.area) || !std::isfinite(b.area)) return std::nan("");
    if (a.pieces == 0 || b.pieces == 0) return 0.0;
    if (a.x_max <= b.x_min || b.x_max <= a.x_min || a.y_max <= b.y_min || b.y_max <= a.y_min) {
        return 0.0;
    }
    double inter = 0.0;
    for (int i = 0; i < a.pieces; ++i) {
        for (int j = 0; j < b.pieces; ++j) {
            inter += convex_intersection_area(a.piece[i].data(), a.piece_size[i], b.piece[j].data(),
                                              b.piece_size[j]);
        }
    }
    inter = std::min(inter, std::min(a.area, b.area));  // rounding never makes IoU exceed 1
    const double uni = a.area + b.area - inter;
    return uni > 0 ? inter / uni : 0.0;
}

inline double quad_iou(const double* a, const double* b) {
    return shape_iou(make_shape(a), make_shape(b));
}

}  // namespace mlpresets
