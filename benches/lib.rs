//! Nothing here: the package `rfc6455-benches` exists for its criterion
//! benches (`cargo bench -p rfc6455-benches --bench NAME`), which live beside
//! this file, so that criterion is not a dependency of the crate's examples
//! and tests.
