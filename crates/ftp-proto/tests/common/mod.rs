//! A blocking driver for `ftp_proto::server::Session` over std sockets and
//! an in-memory file tree: enough of a bridge to let real FTP clients
//! check the protocol side (replies, listings, conversion, REST) without
//! SSH. One thread per connection; transfers run inline, so ABOR during a
//! transfer is not exercised here (the session's unit tests cover it).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ftp_proto::framing::LineFramer;
use ftp_proto::server::listing;
use ftp_proto::server::{
    Action, AsciiDecoder, AsciiEncoder, DataChannel, Entry, FileOperation, FsError, Kind, ListFormat, LoginOutcome,
    Session, SessionConfig, StoreStart, TransferError, TransferKind, TransferType, VirtualPath,
};

/// The password every user has.
pub const PASSWORD: &str = "s3cret pass";

/// How long any socket operation may block.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File(Vec<u8>),
}

/// The file tree: absolute path → node. `/`, `/home` and `/home/<user>`
/// exist from the start; `/locked` refuses everything.
#[derive(Debug)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    fn new() -> Self {
        let mut nodes = BTreeMap::new();
        for dir in ["/", "/home", "/home/ann", "/locked"] {
            nodes.insert(dir.to_owned(), Node::Dir);
        }
        Self { nodes }
    }

    fn check(&self, path: &VirtualPath) -> Result<(), FsError> {
        if path.as_str() == "/locked" || path.as_str().starts_with("/locked/") {
            return Err(FsError::PermissionDenied);
        }
        Ok(())
    }

    fn node(&self, path: &VirtualPath) -> Result<&Node, FsError> {
        self.check(path)?;
        self.nodes.get(path.as_str()).ok_or(FsError::NotFound)
    }

    fn parent_is_dir(&self, path: &VirtualPath) -> Result<(), FsError> {
        match self.node(&path.parent())? {
            Node::Dir => Ok(()),
            Node::File(_) => Err(FsError::NotADirectory),
        }
    }

    fn children(&self, dir: &VirtualPath) -> Vec<(String, &Node)> {
        let prefix = if dir.is_root() { "/".to_owned() } else { format!("{dir}/") };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .map(|(p, n)| (p[prefix.len()..].to_owned(), n))
            .collect()
    }

    fn entry(name: &str, node: &Node) -> Entry {
        let (kind, size) = match node {
            Node::Dir => (Kind::Directory, 4096),
            Node::File(bytes) => (Kind::File, bytes.len() as u64),
        };
        Entry {
            name: name.to_owned(),
            kind,
            size,
            modified: Some(now() - 3600),
            mode: Some(if kind == Kind::Directory { 0o755 } else { 0o644 }),
            owner: Some("ann".into()),
            group: Some("users".into()),
            link_target: None,
        }
    }

    fn operate(&mut self, operation: &FileOperation) -> Result<(), FsError> {
        match operation {
            FileOperation::ChangeDir(path) => match self.node(path)? {
                Node::Dir => Ok(()),
                Node::File(_) => Err(FsError::NotADirectory),
            },
            FileOperation::MakeDir(path) => {
                self.parent_is_dir(path)?;
                if self.nodes.contains_key(path.as_str()) {
                    return Err(FsError::AlreadyExists);
                }
                self.nodes.insert(path.to_string(), Node::Dir);
                Ok(())
            }
            FileOperation::RemoveDir(path) => match self.node(path)? {
                Node::Dir if self.children(path).is_empty() => {
                    self.nodes.remove(path.as_str());
                    Ok(())
                }
                Node::Dir => Err(FsError::Other("Directory not empty".into())),
                Node::File(_) => Err(FsError::NotADirectory),
            },
            FileOperation::Delete(path) => match self.node(path)? {
                Node::File(_) => {
                    self.nodes.remove(path.as_str());
                    Ok(())
                }
                Node::Dir => Err(FsError::IsADirectory),
            },
            FileOperation::Rename { from, to } => {
                self.check(to)?;
                self.parent_is_dir(to)?;
                let moved: Vec<String> = self
                    .nodes
                    .keys()
                    .filter(|p| *p == from.as_str() || p.starts_with(&format!("{from}/")))
                    .cloned()
                    .collect();
                if moved.is_empty() {
                    return Err(FsError::NotFound);
                }
                for old in moved {
                    if let Some(node) = self.nodes.remove(&old) {
                        self.nodes.insert(format!("{to}{}", &old[from.as_str().len()..]), node);
                    }
                }
                Ok(())
            }
            FileOperation::Chmod { path, .. } => self.node(path).map(|_| ()),
        }
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A running server: its address and its tree.
pub struct Server {
    pub address: SocketAddr,
    pub tree: Arc<Mutex<Tree>>,
}

impl Server {
    /// Listens on 127.0.0.1, port chosen by the system.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let tree = Arc::new(Mutex::new(Tree::new()));
        let shared = tree.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let tree = shared.clone();
                std::thread::spawn(move || Connection::new(stream, tree).run());
            }
        });
        Self { address, tree }
    }

    /// Puts a file into the tree.
    pub fn put(&self, path: &str, bytes: &[u8]) {
        self.tree.lock().unwrap().nodes.insert(path.to_owned(), Node::File(bytes.to_vec()));
    }

    /// A file's contents, if it exists.
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        match self.tree.lock().unwrap().nodes.get(path) {
            Some(Node::File(bytes)) => Some(bytes.clone()),
            _ => None,
        }
    }

    pub fn is_dir(&self, path: &str) -> bool {
        matches!(self.tree.lock().unwrap().nodes.get(path), Some(Node::Dir))
    }

    /// An `ftp://` URL for `path`, which curl takes relative to the login
    /// directory, `/home/ann` (RFC 1738 §3.2.2).
    pub fn url(&self, path: &str) -> String {
        format!("ftp://ann:{}@{}{path}", PASSWORD.replace(' ', "%20"), self.address)
    }
}

struct Connection {
    control: TcpStream,
    tree: Arc<Mutex<Tree>>,
    session: Session,
    passive: Option<TcpListener>,
}

impl Connection {
    fn new(control: TcpStream, tree: Arc<Mutex<Tree>>) -> Self {
        control.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let peer = control.peer_addr().unwrap().ip();
        let local = control.local_addr().unwrap().ip();
        Self { control, tree, session: Session::new(SessionConfig::new(peer, local)), passive: None }
    }

    fn run(mut self) {
        let mut framer = LineFramer::new(8192);
        let mut buffer = [0u8; 4096];
        loop {
            if !self.perform() {
                return;
            }
            let n = match self.control.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            framer.push(&buffer[..n]);
            self.session.handle_framed(&mut framer);
        }
    }

    /// Performs every pending action; false once the session is closed.
    fn perform(&mut self) -> bool {
        while let Some(action) = self.session.poll_action() {
            match action {
                Action::Reply(reply) => {
                    if self.control.write_all(&reply.to_bytes()).is_err() {
                        return false;
                    }
                }
                Action::Authenticate { user, password } => {
                    let outcome = if password.expose() == PASSWORD {
                        LoginOutcome::Accepted { home: VirtualPath::absolute(&format!("/home/{user}")) }
                    } else {
                        LoginOutcome::Refused
                    };
                    self.session.handle_login(outcome).unwrap();
                }
                Action::OpenPassive => {
                    let listener = TcpListener::bind((self.control.local_addr().unwrap().ip(), 0));
                    let result = listener.and_then(|l| l.local_addr().map(|a| (l, a))).map_err(|e| e.to_string());
                    let result = result.map(|(listener, address)| {
                        self.passive = Some(listener);
                        address
                    });
                    self.session.handle_passive(result).unwrap();
                }
                Action::ClosePassive => self.passive = None,
                Action::File(operation) => {
                    let result = self.tree.lock().unwrap().operate(&operation);
                    self.session.handle_done(result).unwrap();
                }
                Action::Stat { path, .. } => {
                    let tree = self.tree.lock().unwrap();
                    let name = path.file_name().unwrap_or("/");
                    let result = tree.node(&path).map(|node| Tree::entry(name, node));
                    drop(tree);
                    self.session.handle_stat(result).unwrap();
                }
                Action::Transfer(transfer) => {
                    let result = self.transfer(transfer.data, &transfer.kind);
                    self.session.handle_transfer_done(result).unwrap();
                }
                Action::Abort => {}
                Action::Close => {
                    let _ = self.control.flush();
                    return false;
                }
            }
        }
        true
    }

    fn data_connection(&mut self, data: DataChannel) -> Result<TcpStream, TransferError> {
        let stream = match data {
            DataChannel::Passive => {
                let listener = self.passive.take().ok_or(TransferError::DataConnection("no listener".into()))?;
                listener.accept().map(|(s, _)| s)
            }
            DataChannel::Active(address) => TcpStream::connect_timeout(&address, IO_TIMEOUT),
        }
        .map_err(|e| TransferError::DataConnection(e.to_string()))?;
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Ok(stream)
    }

    /// Sends the 150 reply before any data moves: an active-mode client
    /// reads its data connection only after it.
    fn started(&mut self, size: Option<u64>) {
        self.session.handle_transfer_started(size).unwrap();
        while let Some(Action::Reply(reply)) = self.session.poll_action() {
            self.control.write_all(&reply.to_bytes()).unwrap();
        }
    }

    fn transfer(&mut self, data: DataChannel, kind: &TransferKind) -> Result<u64, TransferError> {
        match kind {
            TransferKind::Retrieve { path, offset, representation } => {
                let bytes = match self.tree.lock().unwrap().node(path)? {
                    Node::File(bytes) => bytes.clone(),
                    Node::Dir => return Err(FsError::IsADirectory.into()),
                };
                let mut stream = self.data_connection(data)?;
                let rest = bytes.get(*offset as usize..).unwrap_or_default();
                self.started(Some(rest.len() as u64));
                let mut wire = Vec::new();
                match representation {
                    TransferType::Ascii => AsciiEncoder::new().encode(rest, &mut wire),
                    TransferType::Image => wire.extend_from_slice(rest),
                }
                stream.write_all(&wire).map_err(|_| TransferError::DataBroken)?;
                Ok(wire.len() as u64)
            }
            TransferKind::Store { path, start, representation } => {
                let existing = {
                    let tree = self.tree.lock().unwrap();
                    tree.check(path)?;
                    tree.parent_is_dir(path)?;
                    match tree.nodes.get(path.as_str()) {
                        Some(Node::File(bytes)) => bytes.clone(),
                        Some(Node::Dir) => return Err(FsError::IsADirectory.into()),
                        None => Vec::new(),
                    }
                };
                let mut stream = self.data_connection(data)?;
                self.started(None);
                let mut wire = Vec::new();
                stream.read_to_end(&mut wire).map_err(|_| TransferError::DataBroken)?;
                let mut contents = match start {
                    StoreStart::Truncate => Vec::new(),
                    StoreStart::At(offset) => existing.get(..*offset as usize).unwrap_or(&existing).to_vec(),
                    StoreStart::Append => existing,
                };
                match representation {
                    TransferType::Ascii => {
                        let mut decoder = AsciiDecoder::new();
                        decoder.decode(&wire, &mut contents);
                        decoder.finish(&mut contents);
                    }
                    TransferType::Image => contents.extend_from_slice(&wire),
                }
                self.tree.lock().unwrap().nodes.insert(path.to_string(), Node::File(contents));
                Ok(wire.len() as u64)
            }
            TransferKind::List { path, format, pattern, prefix } => {
                let mut entries: Vec<Entry> = {
                    let tree = self.tree.lock().unwrap();
                    match tree.node(path)? {
                        Node::Dir => {
                            tree.children(path).into_iter().map(|(name, node)| Tree::entry(&name, node)).collect()
                        }
                        Node::File(_) if *format == ListFormat::Machine || pattern.is_some() => {
                            return Err(FsError::NotADirectory.into())
                        }
                        node => vec![Tree::entry(path.file_name().unwrap_or("/"), node)],
                    }
                };
                if let Some(pattern) = pattern {
                    entries.retain(|entry| pattern.matches(&entry.name));
                }
                let body = match format {
                    ListFormat::Long => listing::list(&entries, now()),
                    ListFormat::Names => listing::name_list(&entries, prefix),
                    ListFormat::Machine => listing::machine_list(&entries),
                };
                let mut stream = self.data_connection(data)?;
                self.started(None);
                stream.write_all(&body).map_err(|_| TransferError::DataBroken)?;
                Ok(body.len() as u64)
            }
        }
    }
}

/// Runs a client to completion, killed after `timeout`; its stdout, or a
/// panic with its stderr.
pub fn run(program: &str, args: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> String {
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).unwrap();
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let output = match rx.recv_timeout(timeout) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{program} {args:?} did not finish within {timeout:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}
