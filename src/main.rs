fn main() {
    eprintln!("h2ring: the server is not wired up yet; the HTTP/2 protocol core is in the library (see README.md)");
    std::process::exit(1);
}
