//! The card's whole state and the one reducer that changes it. Pages read it and send intents to the
//! [`Service`](crate::service::Service); the service turns what the client and the chain say into [`Action`]s.

use std::rc::Rc;

use alloy_primitives::{Address, U256};
use spoke_client::ChannelView;
use spoke_protocol::wire::PaymentRecord;
use yew::Reducible;

use crate::route::Route;

/// Where the card is in starting up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Opening the wallet, logging in to the node: what it is doing now.
    Starting(String),
    /// The wallet is sealed under a password; `error` says why the last try failed.
    Locked {
        error: Option<String>,
    },
    Ready,
    /// It could not start; the reason, for the person.
    Failed(String),
}

/// One thing the person started and may be waiting for: a deposit, a payment, a cash-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: u32,
    /// What it is, for the list: "Deposit 10 Dai".
    pub title: String,
    pub status: Status,
    /// A link the task made (a payment link), or a transaction to look up.
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Still going: the step it is at, never just a spinner.
    Working(String),
    Done(String),
    Failed(String),
}

impl Status {
    pub fn is_working(&self) -> bool {
        matches!(self, Status::Working(_))
    }
}

/// The card's wallet on chain: what it holds outside the channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnChain {
    pub eth: U256,
    pub dai: U256,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub phase: Phase,
    pub route: Route,
    pub address: Option<Address>,
    /// The node's Dai.
    pub dai: Option<Address>,
    /// Whether the node is a development node with a faucet.
    pub dev: bool,
    /// Whether the wallet is sealed under a password.
    pub encrypted: bool,
    pub channel: Option<ChannelView>,
    pub on_chain: OnChain,
    pub history: Vec<PaymentRecord>,
    /// Deposits and cash outs, newest first.
    pub chain_log: Vec<crate::activity::Entry>,
    /// Newest first.
    pub tasks: Vec<Task>,
    /// A passing message: a payment came in.
    pub notice: Option<String>,
}

impl Card {
    pub fn new(route: Route) -> Card {
        Card {
            phase: Phase::Starting("Opening the wallet".into()),
            route,
            address: None,
            dai: None,
            dev: false,
            encrypted: false,
            channel: None,
            on_chain: OnChain::default(),
            history: Vec::new(),
            chain_log: Vec::new(),
            tasks: Vec::new(),
            notice: None,
        }
    }

    /// What the user holds of `asset` in the channel, spendable now (locks it sent are not).
    pub fn balance(&self, asset: Option<Address>) -> U256 {
        let (Some(asset), Some(channel)) = (asset, &self.channel) else {
            return U256::ZERO;
        };
        channel
            .balances
            .iter()
            .find(|b| b.asset == asset)
            .map(|b| b.user)
            .unwrap_or_default()
    }

    pub fn dai_balance(&self) -> U256 {
        self.balance(self.dai)
    }

    pub fn eth_balance(&self) -> U256 {
        self.balance(Some(Address::ZERO))
    }

    pub fn task(&self, id: u32) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Phase(Phase),
    Connected {
        address: Address,
        dai: Address,
        dev: bool,
        encrypted: bool,
    },
    Encrypted(bool),
    Channel(ChannelView),
    OnChain(OnChain),
    History(Vec<PaymentRecord>),
    ChainLog(Vec<crate::activity::Entry>),
    /// A new task, or a task's new status (same id).
    Task(Task),
    Notice(Option<String>),
    Navigate(Route),
}

/// The most tasks kept in the list: older finished ones are dropped.
const TASKS_KEPT: usize = 20;

impl Reducible for Card {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut card = (*self).clone();
        match action {
            Action::Phase(phase) => card.phase = phase,
            Action::Connected {
                address,
                dai,
                dev,
                encrypted,
            } => {
                card.address = Some(address);
                card.dai = Some(dai);
                card.dev = dev;
                card.encrypted = encrypted;
                card.phase = Phase::Ready;
            }
            Action::Encrypted(encrypted) => card.encrypted = encrypted,
            Action::Channel(channel) => card.channel = Some(channel),
            Action::OnChain(on_chain) => card.on_chain = on_chain,
            Action::History(history) => card.history = history,
            Action::ChainLog(log) => card.chain_log = log,
            Action::Task(task) => match card.tasks.iter_mut().find(|t| t.id == task.id) {
                Some(known) => *known = task,
                None => {
                    card.tasks.insert(0, task);
                    // Only finished tasks are dropped: a wait the person can see never vanishes.
                    while card.tasks.len() > TASKS_KEPT {
                        match card.tasks.iter().rposition(|t| !t.status.is_working()) {
                            Some(oldest) => {
                                card.tasks.remove(oldest);
                            }
                            None => break,
                        }
                    }
                }
            },
            Action::Notice(notice) => card.notice = notice,
            Action::Navigate(route) => card.route = route,
        }
        Rc::new(card)
    }
}

#[cfg(test)]
mod tests {
    use spoke_client::Balance;

    use super::*;

    fn task(id: u32, status: Status) -> Task {
        Task {
            id,
            title: format!("task {id}"),
            status,
            link: None,
        }
    }

    #[test]
    fn a_task_is_added_once_and_then_updated_in_place() {
        let card = Rc::new(Card::new(Route::Home));
        let card = card.reduce(Action::Task(task(1, Status::Working("sending".into()))));
        let card = card.reduce(Action::Task(task(2, Status::Working("paying".into()))));
        let card = card.reduce(Action::Task(task(1, Status::Done("sent".into()))));
        assert_eq!(card.tasks.len(), 2);
        assert_eq!(card.tasks[0].id, 2, "newest first");
        assert_eq!(
            card.task(1).map(|t| &t.status),
            Some(&Status::Done("sent".into()))
        );
    }

    #[test]
    fn old_finished_tasks_go_but_waits_in_progress_stay() {
        let mut card = Rc::new(Card::new(Route::Home));
        card = card.reduce(Action::Task(task(0, Status::Working("waiting".into()))));
        for id in 1..=30 {
            card = card.reduce(Action::Task(task(id, Status::Done("done".into()))));
        }
        assert_eq!(card.tasks.len(), TASKS_KEPT);
        assert!(card.task(0).is_some(), "the wait in progress was dropped");
        assert!(card.task(30).is_some());
        assert!(card.task(1).is_none());
    }

    #[test]
    fn balances_are_read_per_asset_from_the_channel() {
        let dai = Address::repeat_byte(0xda);
        let card = Rc::new(Card::new(Route::Home)).reduce(Action::Connected {
            address: Address::repeat_byte(1),
            dai,
            dev: true,
            encrypted: false,
        });
        assert_eq!(card.phase, Phase::Ready);
        assert_eq!(card.dai_balance(), U256::ZERO);
        let card = card.reduce(Action::Channel(ChannelView {
            channel_id: Default::default(),
            nonce: 3,
            balances: vec![
                Balance {
                    asset: dai,
                    user: U256::from(7),
                    node: U256::from(1),
                    locked: U256::ZERO,
                },
                Balance {
                    asset: Address::ZERO,
                    user: U256::from(2),
                    node: U256::ZERO,
                    locked: U256::ZERO,
                },
            ],
            locks: vec![],
        }));
        assert_eq!(card.dai_balance(), U256::from(7));
        assert_eq!(card.eth_balance(), U256::from(2));
    }
}
