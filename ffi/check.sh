#!/usr/bin/env bash
# Checks the C ABI end to end, as CI does:
#   1. builds libvswitch.a / libvswitch.so (crate vswitch-ffi);
#   2. checks that ffi/include/vswitch.h matches the code (cbindgen);
#   3. compiles the C example and test suite with the system C compiler
#      (-Wall -Wextra -Werror, C11) against the header, and the header as C++;
#   4. runs the test suite under valgrind (memcheck, leaks included) and,
#      where the compiler supports it, under AddressSanitizer + UBSan;
#   5. runs the example, linked statically (under valgrind) and dynamically.
# Exits non-zero on any failure. Runs from any directory.
#
# Environment: CC (default cc), CXX (default c++), VSWITCH_FFI_PROFILE
# (debug | release, default debug), VSWITCH_FFI_ASAN=0 to skip the
# sanitizer run, CARGO_TARGET_DIR as cargo uses it.
set -euo pipefail

ffi_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$ffi_dir")"
cd "$root"

step() { printf '\n==> ffi: %s\n' "$*"; }

profile="${VSWITCH_FFI_PROFILE:-debug}"
case "$profile" in
    debug) cargo_profile=() ;;
    release) cargo_profile=(--release) ;;
    *) echo "VSWITCH_FFI_PROFILE must be debug or release, not $profile" >&2; exit 2 ;;
esac
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
lib_dir="$target_dir/$profile"
out="$target_dir/ffi-c/$profile"
mkdir -p "$out"

CC="${CC:-cc}"
CXX="${CXX:-c++}"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic -g -O1 -I"$ffi_dir/include")
# What the static library needs besides itself: Rust's std (the engine
# makes no syscalls of its own and links no C library). This is `cargo
# rustc -p vswitch-ffi --lib --crate-type staticlib -- --print
# native-static-libs`.
NATIVE_LIBS=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)

step "cargo build -p vswitch-ffi ($profile)"
cargo build -p vswitch-ffi "${cargo_profile[@]}"
for f in libvswitch.a libvswitch.so; do
    [ -f "$lib_dir/$f" ] || { echo "missing $lib_dir/$f" >&2; exit 1; }
done

step "the committed header matches the code"
cargo test -p vswitch-ffi --test header

step "compile the C example and tests ($CC)"
"$CC" "${CFLAGS[@]}" "$ffi_dir/tests/test_ffi.c" "$lib_dir/libvswitch.a" \
    "${NATIVE_LIBS[@]}" -o "$out/test_ffi"
"$CC" "${CFLAGS[@]}" "$ffi_dir/examples/example.c" "$lib_dir/libvswitch.a" \
    "${NATIVE_LIBS[@]}" -o "$out/example"
# Against the shared library too (what a distribution would ship).
"$CC" "${CFLAGS[@]}" "$ffi_dir/examples/example.c" -L"$lib_dir" -lvswitch \
    -Wl,-rpath,"$lib_dir" -o "$out/example-shared"
if command -v "$CXX" >/dev/null 2>&1; then
    printf '#include "vswitch.h"\nint main() { return vsw_abi_version() == VSW_ABI_VERSION ? 0 : 1; }\n' \
        > "$out/header.cpp"
    "$CXX" -std=c++11 -Wall -Wextra -Werror -I"$ffi_dir/include" -fsyntax-only "$out/header.cpp"
    echo "header compiles as C++ ($CXX)"
fi

step "C tests under valgrind"
command -v valgrind >/dev/null 2>&1 || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
VALGRIND=(valgrind -q --error-exitcode=99 --leak-check=full
          --errors-for-leak-kinds=definite,possible --track-origins=yes)
"${VALGRIND[@]}" "$out/test_ffi"

step "C tests under AddressSanitizer + UndefinedBehaviorSanitizer"
if [ "${VSWITCH_FFI_ASAN:-1}" = 0 ]; then
    echo "skipped (VSWITCH_FFI_ASAN=0)"
elif printf 'int main(void){return 0;}\n' | "$CC" -x c -fsanitize=address,undefined - -o "$out/asan-probe" 2>/dev/null; then
    "$CC" "${CFLAGS[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer \
        -fno-sanitize-recover=all "$ffi_dir/tests/test_ffi.c" "$lib_dir/libvswitch.a" \
        "${NATIVE_LIBS[@]}" -o "$out/test_ffi-asan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
        "$out/test_ffi-asan" >/dev/null
    echo "ok"
else
    echo "skipped: $CC cannot build with -fsanitize=address,undefined"
fi

step "the example (static, under valgrind; then shared)"
"${VALGRIND[@]}" "$out/example"
"$out/example-shared" >/dev/null

step "ffi checks passed"
