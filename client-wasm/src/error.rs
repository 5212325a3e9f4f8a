use spoke_protocol::B256;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything the client can fail at. [`Error::code`] is stable for programs; the message is for people.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node answered with an error of its own.
    #[error("the node refused ({code}, HTTP {status}): {message}")]
    Node {
        status: u16,
        code: String,
        message: String,
    },
    /// The client would not sign: the validator or one of the client's own checks said no.
    #[error("refused to sign: {0}")]
    Refused(String),
    /// Boxed: the protocol's errors carry amounts and addresses (88 bytes), and every `Result` in the client is as
    /// large as its largest error, copied at each `?` and kept in each future's state.
    #[error(transparent)]
    Protocol(Box<spoke_protocol::Error>),
    #[error("cannot reach the node: {0}")]
    Transport(String),
    #[error("the node's answer does not decode: {0}")]
    BadAnswer(String),
    #[error("local store: {0}")]
    Store(String),
    #[error("chain: {0}")]
    Chain(String),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("payment {0} failed: its lock went back to the payer")]
    PaymentFailed(B256),
    #[error("{0}")]
    Config(String),
    /// The dapp's autosigning caps do not allow this much.
    #[error("over the spending cap: {0}")]
    CapExceeded(String),
    /// The wallet is sealed under a password and none was given.
    #[error("the wallet is locked: its password is needed")]
    Locked,
    /// The password does not open the wallet.
    #[error("wrong password")]
    WrongPassword,
    /// Not a BIP-39 English recovery phrase (the message says which word or why, never the words themselves).
    #[error("not a valid recovery phrase: {0}")]
    BadPhrase(String),
    /// A wallet is already stored under this name.
    #[error("a wallet named {0:?} already exists")]
    WalletExists(String),
    /// Any other wallet failure: a damaged or unsupported record, an empty password, no randomness.
    #[error("wallet: {0}")]
    Wallet(String),
}

impl From<spoke_protocol::Error> for Error {
    fn from(e: spoke_protocol::Error) -> Self {
        Error::Protocol(Box::new(e))
    }
}

impl Error {
    /// A stable code: the node's code for its refusals, else one of the client's own.
    pub fn code(&self) -> &str {
        match self {
            Error::Node { code, .. } => code,
            Error::Refused(_) => "REFUSED",
            Error::Protocol(_) => "INVALID",
            Error::Transport(_) => "UNREACHABLE",
            Error::BadAnswer(_) => "BAD_ANSWER",
            Error::Store(_) => "STORE",
            Error::Chain(_) => "CHAIN",
            Error::Timeout(_) => "TIMEOUT",
            Error::PaymentFailed(_) => "PAYMENT_FAILED",
            Error::Config(_) => "CONFIG",
            Error::CapExceeded(_) => "CAP_EXCEEDED",
            Error::Locked => "LOCKED",
            Error::WrongPassword => "WRONG_PASSWORD",
            Error::BadPhrase(_) => "BAD_PHRASE",
            Error::WalletExists(_) => "WALLET_EXISTS",
            Error::Wallet(_) => "WALLET",
        }
    }

    pub(crate) fn is_node(&self, wanted: &str) -> bool {
        matches!(self, Error::Node { code, .. } if code == wanted)
    }
}
