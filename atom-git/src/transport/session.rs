//! One upload-pack connection after its handshake: `ls-refs` and `fetch`
//! over it, and a polite end.

use gix::bstr::{BString, ByteSlice};
use gix::protocol::transport;
use gix::ObjectId;

use super::connect::BoxedTransport;
use super::{RemoteRef, TransportError};

/// What eka tells servers it is.
fn agent() -> String {
    gix::protocol::agent(concat!("eka/", env!("CARGO_PKG_VERSION")))
}

/// An upload-pack connection after the handshake.
pub(crate) struct Session {
    transport: BoxedTransport,
    handshake: gix::protocol::Handshake,
}

impl Session {
    pub(crate) fn open(mut transport: BoxedTransport) -> Result<Self, TransportError> {
        let handshake = gix::protocol::handshake(
            &mut transport,
            transport::Service::UploadPack,
            |_| Ok(None),
            Vec::new(),
            &mut gix::progress::Discard,
        )
        .map_err(|e| TransportError::Handshake(e.into()))?;
        Ok(Session {
            transport,
            handshake,
        })
    }

    pub(crate) fn is_v2(&self) -> bool {
        self.handshake.server_protocol_version == transport::Protocol::V2
    }

    /// Ends the interaction politely (protocol v2: a flush).
    pub(crate) fn end(mut self) {
        if self.is_v2() {
            gix::protocol::indicate_end_of_interaction(&mut self.transport, false).ok();
        }
    }

    /// `ls-refs` of `prefixes`. Protocol v2 sends only the matching refs;
    /// an older server's whole advertisement is filtered here.
    pub(crate) fn ls_refs(&mut self, prefixes: &[&str]) -> Result<Vec<RemoteRef>, TransportError> {
        use gix::protocol::{ls_refs::RefPrefixes, LsRefsCommand};
        let refs = match &self.handshake.refs {
            Some(refs) => refs.clone(),
            None => {
                let mut p = RefPrefixes::new();
                p.extend(prefixes.iter().map(|s| BString::from(*s)));
                LsRefsCommand::new(
                    Some(p),
                    &self.handshake.capabilities,
                    ("agent", Some(agent())),
                )
                .invoke_blocking(&mut self.transport, &mut gix::progress::Discard, false)
                .map_err(|e| TransportError::ListRefs(e.into()))?
            }
        };
        Ok(refs
            .iter()
            .filter_map(|r| {
                let (name, target, _peeled) = r.unpack();
                let name = name.to_str_lossy();
                prefixes
                    .iter()
                    .any(|p| name.starts_with(p))
                    .then(|| {
                        Some(RemoteRef {
                            name: name.into_owned(),
                            target: target?.to_owned(),
                        })
                    })
                    .flatten()
            })
            .collect())
    }

    /// One `fetch` of `wants`, telling the server we have `haves` (and
    /// what they reach); the pack is written into `repo`'s object database.
    pub(crate) fn fetch(
        &mut self,
        repo: &gix::Repository,
        wants: &[ObjectId],
        haves: &[ObjectId],
    ) -> Result<(), TransportError> {
        use gix::protocol::fetch::{Arguments, Response};
        let version = self.handshake.server_protocol_version;
        let mut features =
            gix::protocol::Command::Fetch.default_features(version, &self.handshake.capabilities);
        features.push(("agent", Some(agent())));
        let mut args = Arguments::new(version, features, false);
        if version == transport::Protocol::V2 {
            args.add_feature("no-progress");
        }
        for id in wants {
            args.want(id);
        }
        for id in haves {
            args.have(id);
        }
        let mut reader = args
            .send(&mut self.transport, true)
            .map_err(|e| TransportError::Fetch(e.into()))?;
        let response = Response::from_line_reader(version, &mut reader, true, false)
            .map_err(|e| TransportError::Fetch(e.into()))?;
        if !response.has_pack() {
            return Err(TransportError::NoPack);
        }
        receive_pack(&mut reader, repo)
    }
}

/// Writes the pack coming on side band 1 into `repo`; band 3 carries the
/// server's errors.
fn receive_pack(
    reader: &mut Box<
        dyn gix::protocol::transport::client::blocking_io::ExtendedBufRead<'_> + Unpin + '_,
    >,
    repo: &gix::Repository,
) -> Result<(), TransportError> {
    let server_error = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    reader.set_progress_handler(Some(Box::new({
        let server_error = server_error.clone();
        move |is_error: bool, text: &[u8]| {
            if is_error {
                server_error
                    .borrow_mut()
                    .push_str(text.to_str_lossy().trim());
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        }
    })));
    let interrupt = std::sync::atomic::AtomicBool::new(false);
    let written = gix::odb::pack::Bundle::write_to_directory(
        reader,
        Some(&repo.objects.store_ref().path().join("pack")),
        &mut gix::progress::Discard,
        &interrupt,
        Some(Box::new(repo.objects.clone())),
        repo.object_hash(),
        gix::odb::pack::bundle::write::Options::default(),
    )
    .map_err(|e| match server_error.borrow().as_str() {
        "" => TransportError::StorePack(e.into()),
        said => TransportError::Server(said.to_owned()),
    })?;
    // Read to the end (the final flush), so that the connection ends
    // cleanly.
    std::io::copy(reader, &mut std::io::sink()).map_err(|e| TransportError::Fetch(e.into()))?;
    if let Some(keep) = written.keep_path {
        let _ = std::fs::remove_file(keep);
    }
    Ok(())
}
