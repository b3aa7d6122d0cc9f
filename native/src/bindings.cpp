// pybind11 bindings: mlpresets.native._native. The Python wrapper (mlpresets/native/__init__.py)
// validates and converts the inputs and gives the public names; these entry points still
// check shapes themselves, so a direct call can raise but never read out of bounds. Every
// one releases the GIL while it computes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "lanms.hpp"
#include "nms.hpp"
#include "polygon.hpp"
#include "rbox.hpp"

namespace py = pybind11;
using mlpresets::LanmsResult;

template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

namespace {

std::string shape_of(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t d = 0; d < a.ndim(); ++d) {
        s += std::to_string(a.shape(d));
        if (d + 1 < a.ndim() || a.ndim() == 1) s += a.ndim() == 1 ? "," : ", ";
    }
    return s + ")";
}

// Rows of a (N, cols) array, or (N,) when cols == 0; raises ValueError naming the shape.
int64_t rows(const py::array& a, py::ssize_t cols, const char* name) {
    const bool ok = cols == 0 ? a.ndim() == 1 : (a.ndim() == 2 && a.shape(1) == cols);
    if (!ok) {
        const std::string want = cols == 0 ? "(N,)" : "(N, " + std::to_string(cols) + ")";
        throw std::invalid_argument(std::string(name) + " must have shape " + want + ", got " +
                                    shape_of(a));
    }
    return static_cast<int64_t>(a.shape(0));
}

void same_rows(int64_t a, int64_t b, const char* name_a, const char* name_b) {
    if (a != b) {
        throw std::invalid_argument(std::string(name_a) + " and " + name_b +
                                    " must have the same length, got " + std::to_string(a) +
                                    " and " + std::to_string(b));
    }
}

py::array_t<int64_t> to_array(const std::vector<int64_t>& v) {
    py::array_t<int64_t> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

template <typename T>
py::array_t<int64_t> nms(const CArray<T>& boxes, const CArray<double>& scores, double iou_threshold) {
    const int64_t n = rows(boxes, 4, "boxes");
    same_rows(n, rows(scores, 0, "scores"), "boxes", "scores");
    std::vector<int64_t> keep;
    {
        py::gil_scoped_release nogil;
        keep = mlpresets::nms(boxes.data(), scores.data(), n, iou_threshold);
    }
    return to_array(keep);
}

template <typename T>
py::array_t<int64_t> batched_nms(const CArray<T>& boxes, const CArray<double>& scores,
                                 const CArray<int64_t>& classes, double iou_threshold) {
    const int64_t n = rows(boxes, 4, "boxes");
    same_rows(n, rows(scores, 0, "scores"), "boxes", "scores");
    same_rows(n, rows(classes, 0, "classes"), "boxes", "classes");
    std::vector<int64_t> keep;
    {
        py::gil_scoped_release nogil;
        keep = mlpresets::batched_nms(boxes.data(), scores.data(), classes.data(), n, iou_threshold);
    }
    return to_array(keep);
}

py::array_t<double> polygon_iou(const CArray<double>& a, const CArray<double>& b) {
    const int64_t n = rows(a, 8, "a");
    same_rows(n, rows(b, 8, "b"), "a", "b");
    py::array_t<double> out(static_cast<py::ssize_t>(n));
    double* o = out.mutable_data();
    const double* pa = a.data();
    const double* pb = b.data();
    {
        py::gil_scoped_release nogil;
        for (int64_t i = 0; i < n; ++i) o[i] = mlpresets::quad_iou(pa + 8 * i, pb + 8 * i);
    }
    return out;
}

std::pair<py::array_t<double>, py::array_t<double>> locality_aware_nms(
    const CArray<double>& quads, const CArray<double>& scores, double iou_threshold) {
    const int64_t n = rows(quads, 8, "quads");
    same_rows(n, rows(scores, 0, "scores"), "quads", "scores");
    LanmsResult r;
    {
        py::gil_scoped_release nogil;
        r = mlpresets::locality_aware_nms(quads.data(), scores.data(), n, iou_threshold);
    }
    const auto k = static_cast<py::ssize_t>(r.scores.size());
    py::array_t<double> out_quads({k, py::ssize_t{8}});
    py::array_t<double> out_scores(k);
    std::copy(r.quads.begin(), r.quads.end(), out_quads.mutable_data());
    std::copy(r.scores.begin(), r.scores.end(), out_scores.mutable_data());
    return {out_quads, out_scores};
}

py::array_t<double> restore_rbox(const CArray<double>& origins, const CArray<double>& geometry) {
    const int64_t n = rows(origins, 2, "origins");
    same_rows(n, rows(geometry, 5, "geometry"), "origins", "geometry");
    py::array_t<double> out({static_cast<py::ssize_t>(n), py::ssize_t{8}});
    double* o = out.mutable_data();
    const double* po = origins.data();
    const double* pg = geometry.data();
    {
        py::gil_scoped_release nogil;
        mlpresets::restore_rbox(po, pg, n, o);
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "C++ kernels of mlpresets.native; call them through mlpresets.native.";
    m.def("nms_float32", &nms<float>, py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"));
    m.def("nms_float64", &nms<double>, py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"));
    m.def("batched_nms_float32", &batched_nms<float>, py::arg("boxes"), py::arg("scores"),
          py::arg("classes"), py::arg("iou_threshold"));
    m.def("batched_nms_float64", &batched_nms<double>, py::arg("boxes"), py::arg("scores"),
          py::arg("classes"), py::arg("iou_threshold"));
    m.def("polygon_iou", &polygon_iou, py::arg("a"), py::arg("b"));
    m.def("locality_aware_nms", &locality_aware_nms, py::arg("quads"), py::arg("scores"),
          py::arg("iou_threshold"));
    m.def("restore_rbox", &restore_rbox, py::arg("origins"), py::arg("geometry"));
}
