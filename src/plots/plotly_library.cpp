// The bytes of Plotly.js are pulled in by the assembler (.incbin): compiling a 1.5 MB array initialiser takes GCC
// far longer. CMake passes the file's path (ARRAKIS_PLOTLY_JS_FILE) and version and rebuilds this file when it changes.
#include "plots/plotly_library.hpp"

__asm__(
    ".pushsection .rodata\n"
    ".global arrakis_plotly_js_begin\n"
    ".hidden arrakis_plotly_js_begin\n"
    "arrakis_plotly_js_begin:\n"
    ".incbin \"" ARRAKIS_PLOTLY_JS_FILE
    "\"\n"
    ".global arrakis_plotly_js_end\n"
    ".hidden arrakis_plotly_js_end\n"
    "arrakis_plotly_js_end:\n"
    ".byte 0\n"
    ".popsection\n");

extern "C" const char arrakis_plotly_js_begin[];
extern "C" const char arrakis_plotly_js_end[];

namespace arrakis {

std::string_view plotly_js() {
  return {arrakis_plotly_js_begin, static_cast<std::size_t>(arrakis_plotly_js_end - arrakis_plotly_js_begin)};
}

std::string_view plotly_package() { return "plotly.js-cartesian-dist-min " ARRAKIS_PLOTLY_VERSION; }

}  // namespace arrakis
