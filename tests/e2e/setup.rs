//! `scripts/setup.sh`, the first step of `make run` and `make test`: it must
//! ask for libclang-dev exactly when bindgen would find no libclang to load.

use std::path::Path;
use std::process::{Command, Output};

use crate::root;

/// A tree standing in for `/`, removed when dropped.
struct Tree(tempfile::TempDir);

impl Tree {
    fn new(name: &str) -> Self {
        Tree(crate::temp_dir(&format!("setup-{name}")))
    }

    /// A file at `path` (relative to the tree) whose first bytes are an ELF
    /// header of the given class (2: 64-bit, 1: 32-bit).
    fn elf(&self, path: &str, class: u8) -> &Self {
        let file = self.0.path().join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
        std::fs::write(&file, [0x7f, b'E', b'L', b'F', class, 1, 1, 0]).expect("write");
        self
    }

    /// `setup.sh --check` with this tree as the root and no library paths
    /// from the environment of the test run.
    fn check(&self, libclang_path: Option<&Path>) -> Output {
        let mut command = Command::new("bash");
        command
            .arg(root().join("scripts/setup.sh"))
            .arg("--check")
            .env("ARBITER_SETUP_ROOT", self.0.path())
            .env_remove("LIBCLANG_PATH")
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("LIBRARY_PATH");
        if let Some(path) = libclang_path {
            command.env("LIBCLANG_PATH", path);
        }
        command.output().expect("bash runs")
    }
}

/// The packages `--check` says are missing.
fn missing(output: &Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&output.stderr);
    text.lines()
        .find_map(|line| line.strip_prefix("setup: missing: "))
        .map(|list| list.split(' ').map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn the_cpp_library_alone_is_not_libclang() {
    // What a Debian machine with only libclang-cpp14 holds: the case.
    let tree = Tree::new("cpp-only");
    tree.elf("usr/lib/llvm-14/lib/libclang-cpp.so.14", 2)
        .elf("usr/lib/x86_64-linux-gnu/libclang-cpp.so.14", 2);
    let output = tree.check(None);
    assert_eq!(output.status.code(), Some(1));
    assert!(missing(&output).contains(&"libclang-dev".to_owned()));
}

#[test]
fn the_versioned_runtime_library_is_libclang() {
    // libclang1-14 installs libclang-14.so.1 (and libclang.so.1 under llvm-14).
    let tree = Tree::new("runtime");
    tree.elf("usr/lib/llvm-14/lib/libclang-cpp.so.14", 2)
        .elf("usr/lib/x86_64-linux-gnu/libclang-14.so.1", 2);
    let output = tree.check(None);
    assert!(!missing(&output).contains(&"libclang-dev".to_owned()));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("usr/lib/x86_64-linux-gnu/libclang-14.so.1"),
        "{text}"
    );
}

#[test]
fn a_library_of_the_other_word_size_is_not_loaded() {
    let tree = Tree::new("class");
    tree.elf("usr/lib/llvm-14/lib/libclang.so.1", 1);
    assert!(missing(&tree.check(None)).contains(&"libclang-dev".to_owned()));
}

#[test]
fn libclang_path_is_the_only_place_searched_when_set() {
    // As in clang-sys: LIBCLANG_PATH set to a folder without libclang means
    // none is found, even though the usual folders hold one.
    let tree = Tree::new("env");
    tree.elf("usr/lib/llvm-14/lib/libclang.so.1", 2)
        .elf("opt/llvm/lib/libclang.so", 2);
    let empty = tree.0.path().join("opt/empty");
    std::fs::create_dir_all(&empty).expect("dir");
    assert!(missing(&tree.check(Some(&empty))).contains(&"libclang-dev".to_owned()));
    let custom = tree.0.path().join("opt/llvm/lib");
    assert!(!missing(&tree.check(Some(&custom))).contains(&"libclang-dev".to_owned()));
    let file = custom.join("libclang.so");
    assert!(!missing(&tree.check(Some(&file))).contains(&"libclang-dev".to_owned()));
}
