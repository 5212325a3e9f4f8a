//! What an app calls: deposit, pay, links, exchange, withdraw, collateral, and waiting for a payment.

use super::*;

impl Client {
    /// Deposits `amount` of `asset` on chain from the user's account (ETH is the zero address; a token is approved
    /// first) and counts it into the channel once the node sees it confirmed, waiting at most `timeout`. Needs
    /// `eth_url`. Emits [`ClientEvent::DepositSent`] when the transaction is mined, so an app can show the wait.
    /// Returns the deposit's transaction once the deposit is in the balance.
    pub async fn deposit(&self, asset: Address, amount: U256, timeout: Duration) -> Result<B256> {
        let chain = self
            .shared
            .chain
            .as_ref()
            .ok_or_else(|| Error::Config("a deposit needs the chain: set eth_url".into()))?;
        let tx = chain
            .deposit(self.shared.node_config.node, asset, amount)
            .await?;
        self.emit(ClientEvent::DepositSent { asset, amount, tx });
        let deadline = platform::deadline(timeout);
        self.wait_confirmations(chain, tx, deadline).await?;
        let left = Duration::from_millis(deadline.saturating_sub(platform::now_ms()));
        self.count_deposit_when_confirmed(asset, amount, left)
            .await?;
        Ok(tx)
    }

    /// Waits until the chain has added the node's `depositConfirmations` blocks on top of `tx`'s block,
    /// announcing each new one with [`ClientEvent::DepositConfirming`]: the node would refuse to count the deposit
    /// before, and a person waiting sees how far it is.
    async fn wait_confirmations(
        &self,
        chain: &crate::EthChain,
        tx: B256,
        deadline: u64,
    ) -> Result<()> {
        let needed = self.shared.node_config.deposit_confirmations;
        let mined_in = chain.wait_receipt(tx).await?.block_number;
        let mut shown = None;
        loop {
            let confirmations = chain
                .block_number()
                .await?
                .saturating_sub(mined_in)
                .min(needed);
            if shown != Some(confirmations) {
                shown = Some(confirmations);
                self.emit(ClientEvent::DepositConfirming {
                    tx,
                    confirmations,
                    needed,
                });
            }
            if confirmations >= needed {
                return Ok(());
            }
            if platform::passed(deadline) {
                return Err(Error::Timeout("the deposit's confirmations"));
            }
            platform::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Counts `amount` more of the user's confirmed on-chain deposit into the balance. The node refuses with
    /// `DEPOSIT_NOT_CONFIRMED` until the chain shows it final.
    pub async fn count_deposit(&self, asset: Address, amount: U256) -> Result<ProposeResponse> {
        self.propose(Update::CountDeposit {
            asset,
            side: Side::User,
            amount,
        })
        .await
    }

    /// Counts a deposit, retrying while the node waits for confirmations, for at most `timeout`.
    pub async fn count_deposit_when_confirmed(
        &self,
        asset: Address,
        amount: U256,
        timeout: Duration,
    ) -> Result<ProposeResponse> {
        let deadline = platform::deadline(timeout);
        loop {
            match self.count_deposit(asset, amount).await {
                Err(e) if e.is_node("DEPOSIT_NOT_CONFIRMED") => {
                    if platform::passed(deadline) {
                        return Err(Error::Timeout("the deposit's confirmations"));
                    }
                    platform::sleep(Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    /// The key `recipient`'s preimages are encrypted to: from this client's memory, or asked of the node and
    /// checked to be `recipient`'s own (a node handing another key would keep the preimage from the payee).
    async fn recipient_key(&self, recipient: Address) -> Result<Vec<u8>> {
        /// Recipients remembered at once; past it the memory starts over (each is asked again once).
        const REMEMBERED: usize = 1024;
        let keys = || {
            self.shared
                .recipient_keys
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(key) = keys().get(&recipient).cloned() {
            return Ok(key);
        }
        let key: KeyResponse = self
            .shared
            .api
            .get(&format!("/users/{recipient:#x}/key"))
            .await?;
        if key.address != recipient || !key_belongs_to(&key.public_key, recipient)? {
            return Err(self.refuse(format!(
                "the node handed a key that is not {recipient}'s: the preimage would not reach the payee"
            )));
        }
        let public_key = key.public_key.to_vec();
        let mut keys = keys();
        if keys.len() >= REMEMBERED {
            keys.clear();
        }
        keys.insert(recipient, public_key.clone());
        Ok(public_key)
    }

    /// Pays `amount` of `asset` to `recipient` through the node. Returns the payment id once the payer's lock is
    /// double-signed; [`Client::wait_payment`] waits for the end.
    pub async fn pay(&self, recipient: Address, asset: Address, amount: U256) -> Result<B256> {
        self.may_spend(asset, amount).await?;
        let recipient_key = self.recipient_key(recipient).await?;
        let timing = self.shared.node_config.timing;
        let preimage = random_b256()?;
        let hashlock = sha256(preimage);
        let now = now();
        let payee_expiry = now + self.shared.config.payee_lock_seconds;
        let payer_expiry = payee_expiry + timing.expiry_delta + timing.safety_margin;
        let lock = Lock {
            id: random_b256()?,
            asset,
            amount,
            sender: Side::User,
            hashlock,
            expiry: payer_expiry,
        };
        let context = PreimageContext {
            hashlock,
            asset,
            amount,
            expiry: payee_expiry,
        };
        let encrypted = encrypt_preimage(&recipient_key, preimage, &context, &random_b256()?)?;
        let response = self
            .propose_with(
                Update::CreateLock { lock },
                Some(Route::Pay {
                    recipient,
                    payee_expiry,
                    encrypted_preimage: encrypted,
                }),
            )
            .await?;
        response
            .payment_id
            .ok_or_else(|| Error::BadAnswer("the node did not name the payment".into()))
    }

    /// Asks the node to collateralize this client's channel in `asset` (up to the node's floor), so payments
    /// to it need not wait. Returns the node's balance in the channel now.
    pub async fn request_collateral(&self, asset: Address) -> Result<U256> {
        struct Answer {
            available: U256,
        }
        spoke_protocol::json_struct!(
            Answer,
            lenient {
                available: "available"
            }
        );
        let answer: Answer = self
            .shared
            .api
            .post(
                "/collateral/request",
                &serde_json::json!({ "asset": asset }),
            )
            .await?;
        Ok(answer.available)
    }

    /// Whether a payment of `amount` to `recipient` would wait for the node to collateralize.
    pub async fn recipient_needs_collateral(
        &self,
        recipient: Address,
        asset: Address,
        amount: U256,
    ) -> Result<bool> {
        struct Answer {
            needs_collateral: bool,
        }
        spoke_protocol::json_struct!(
            Answer,
            lenient {
                needs_collateral: "needsCollateral"
            }
        );
        let answer: Answer = self
            .shared
            .api
            .get(&format!(
                "/collateral/needs?recipient={recipient:#x}&asset={asset:#x}&amount={amount}"
            ))
            .await?;
        Ok(answer.needs_collateral)
    }

    /// Pays `amount` of `asset` into a link: whoever holds the returned secret can redeem it
    /// ([`Client::redeem_link`]) until it expires back to this client. Returns the secret and the payment id.
    pub async fn create_link(&self, asset: Address, amount: U256) -> Result<(B256, B256)> {
        self.may_spend(asset, amount).await?;
        let secret = random_b256()?;
        let secrets = link_secrets(&secret)?;
        let link_address = Signer::from_bytes(&secrets.link_key)?.address();
        let timing = self.shared.node_config.timing;
        let now = now();
        let payee_expiry = now + self.shared.config.payee_lock_seconds;
        let lock = Lock {
            id: random_b256()?,
            asset,
            amount,
            sender: Side::User,
            hashlock: sha256(secrets.preimage),
            expiry: payee_expiry + timing.expiry_delta + timing.safety_margin,
        };
        let response = self
            .propose_with(
                Update::CreateLock { lock },
                Some(Route::Link {
                    link_address,
                    payee_expiry,
                }),
            )
            .await?;
        let id = response
            .payment_id
            .ok_or_else(|| Error::BadAnswer("the node did not name the payment".into()))?;
        Ok((secret, id))
    }

    /// Redeems a link into this client's channel: proves the link key to the node, takes the node's lock, then
    /// reveals the preimage by resolving it. Returns once the amount is in this client's balance.
    pub async fn redeem_link(&self, secret: B256, timeout: Duration) -> Result<RedeemLinkResponse> {
        let secrets = link_secrets(&secret)?;
        let hashlock = sha256(secrets.preimage);
        let (domain, channel_id) = {
            let mut channel = self.shared.channel.lock().await;
            let mut snapshot = channel.snapshot.clone();
            if !snapshot.link_preimages.iter().any(|(h, _)| *h == hashlock) {
                snapshot.link_preimages.push((hashlock, secrets.preimage));
                self.shared.store.save(&snapshot)?;
                channel.snapshot = snapshot;
            }
            (channel.params().domain(), channel.state.channel_id)
        };
        let link_key = Signer::from_bytes(&secrets.link_key)?;
        let signature = link_key.sign_digest(&redemption_digest(&domain, hashlock, channel_id))?;
        let answer: RedeemLinkResponse = self
            .shared
            .api
            .post(
                "/links/redeem",
                &RedeemLinkRequest {
                    hashlock,
                    signature,
                },
            )
            .await?;
        let deadline = platform::deadline(timeout);
        loop {
            self.sync().await?;
            self.resolve_received().await?;
            let record: PaymentRecord = self
                .shared
                .api
                .get(&format!("/payments/{:#x}", answer.payment_id))
                .await?;
            if matches!(
                record.status,
                PaymentStatus::Resolved | PaymentStatus::Completed
            ) {
                return Ok(answer);
            }
            if platform::passed(deadline) {
                return Err(Error::Timeout("the link's payment"));
            }
            platform::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the node for a quote: `sell_amount` of `sell_asset` for some `buy_asset`.
    pub async fn quote(
        &self,
        sell_asset: Address,
        sell_amount: U256,
        buy_asset: Address,
    ) -> Result<QuoteResponse> {
        self.shared
            .api
            .post(
                "/exchange/quote",
                &QuoteRequest {
                    sell_asset,
                    sell_amount,
                    buy_asset,
                },
            )
            .await
    }

    /// Trades at `quote` if it is what was asked for and buys at least `min_buy`; the validator checks the
    /// node's signature, the expiry and the balances.
    pub async fn execute_quote(
        &self,
        quote: QuoteResponse,
        asked: (Address, U256, Address),
        min_buy: U256,
    ) -> Result<ProposeResponse> {
        let q = &quote.quote;
        let (sell_asset, sell_amount, buy_asset) = asked;
        if (q.sell_asset, q.sell_amount, q.buy_asset) != (sell_asset, sell_amount, buy_asset) {
            return Err(self.refuse(format!(
                "the node quoted selling {} of {} for {}, not {sell_amount} of {sell_asset} for {buy_asset}",
                q.sell_amount, q.sell_asset, q.buy_asset
            )));
        }
        if q.buy_amount < min_buy {
            return Err(self.refuse(format!(
                "the quote buys {} of {buy_asset}, less than the {min_buy} asked for",
                q.buy_amount
            )));
        }
        self.may_spend(sell_asset, sell_amount).await?;
        self.propose(Update::Exchange {
            quote: quote.quote,
            node_signature: quote.node_signature,
        })
        .await
    }

    /// Sells `sell_amount` of `sell_asset` for at least `min_buy` of `buy_asset` at the node's quote. Returns the
    /// amount bought.
    pub async fn exchange(
        &self,
        sell_asset: Address,
        sell_amount: U256,
        buy_asset: Address,
        min_buy: U256,
    ) -> Result<U256> {
        let quote = self.quote(sell_asset, sell_amount, buy_asset).await?;
        let bought = quote.quote.buy_amount;
        self.execute_quote(quote, (sell_asset, sell_amount, buy_asset), min_buy)
            .await?;
        Ok(bought)
    }

    /// Waits until the payment ends; a failed payment (its lock went back) is [`Error::PaymentFailed`]. A payment
    /// of this client's ends in its own channel, when it takes the node's resolve (or cancel) of its lock: that
    /// needs no question to the node. Anything else, or two seconds without news, is asked of the node.
    pub async fn wait_payment(&self, id: B256, timeout: Duration) -> Result<()> {
        let deadline = platform::deadline(timeout);
        let mut events = self.events();
        // Whether to ask the node when the channel has not seen the end: at first only for a payment not locked
        // in this channel, later when the node says it ended or has been quiet.
        let (mut first, mut nudged) = (true, true);
        loop {
            let here = self.payment_here(id).await;
            match here {
                PaymentHere::Ended(true) => return Ok(()),
                PaymentHere::Ended(false) => return Err(Error::PaymentFailed(id)),
                PaymentHere::Locked | PaymentHere::Unknown => {}
            }
            if nudged && (here == PaymentHere::Unknown || !first) {
                if let Some(outcome) = self.ask_payment(id).await? {
                    return outcome;
                }
            }
            first = false;
            if platform::passed(deadline) {
                return Err(Error::Timeout("the payment to complete"));
            }
            let until = deadline.min(platform::deadline(Duration::from_secs(2)));
            let heard = platform::until(until, async {
                loop {
                    match events.recv().await {
                        Ok(ClientEvent::StateChanged { .. }) => return Heard::State,
                        Ok(ClientEvent::PaymentStatus { id: got, status })
                            if got == id && status.is_final() =>
                        {
                            return Heard::Ended
                        }
                        Err(broadcast::error::RecvError::Closed) => return Heard::Ended,
                        _ => {}
                    }
                }
            })
            .await;
            // The node's word that it ended can come before this client's own countersignature has returned:
            // the channel is looked at again first.
            nudged = heard != Some(Heard::State);
        }
    }

    /// What this client's channel says of payment `id`.
    async fn payment_here(&self, id: B256) -> PaymentHere {
        // Under the channel's lock, which is held from recording an end until the state without the lock is in
        // place: an end is seen either here or in the state.
        let channel = self.shared.channel.lock().await;
        let ended = self
            .shared
            .ended_payments
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id);
        if let Some(completed) = ended {
            return PaymentHere::Ended(completed);
        }
        if channel
            .state
            .locks
            .iter()
            .any(|l| signing::own_payment(&channel.state, l) == Some(id))
        {
            PaymentHere::Locked
        } else {
            PaymentHere::Unknown
        }
    }

    /// The node's word on payment `id`: its outcome once it ended (after taking what the node has for this
    /// channel), else `None`.
    async fn ask_payment(&self, id: B256) -> Result<Option<Result<()>>> {
        let record: PaymentRecord = self.shared.api.get(&format!("/payments/{id:#x}")).await?;
        let outcome = match record.status {
            PaymentStatus::Completed => Ok(()),
            PaymentStatus::Failed => Err(Error::PaymentFailed(id)),
            _ => return Ok(None),
        };
        // The node's resolve may still be on its way to this client.
        self.sync().await?;
        Ok(Some(outcome))
    }

    /// Moves `amount` of `asset` out of the channel for `recipient`: the withdrawal state and its commitment,
    /// both co-signed. With `node_submits`, the node sends the commitment to the chain and pays the gas (the
    /// answer carries its transaction); else the caller sends it ([`crate::EthChain::withdraw`]). Either way the
    /// commitment is kept, so it can be sent again.
    pub async fn withdraw(
        &self,
        asset: Address,
        amount: U256,
        recipient: Address,
        node_submits: bool,
    ) -> Result<Withdrawal> {
        self.may_spend(asset, amount).await?;
        let response = self
            .propose_with(
                Update::Withdraw {
                    asset,
                    side: Side::User,
                    amount,
                    recipient,
                },
                node_submits.then_some(Route::SubmitWithdrawal),
            )
            .await?;
        let commitment = self
            .shared
            .channel
            .lock()
            .await
            .snapshot
            .commitments
            .last()
            .cloned()
            .ok_or_else(|| Error::BadAnswer("the node did not co-sign the commitment".into()))?;
        Ok(Withdrawal {
            commitment,
            tx: response.withdrawal_tx,
        })
    }
}

/// What a client's own channel shows of a payment.
#[derive(Debug, PartialEq, Eq)]
enum PaymentHere {
    /// Its lock was resolved (`true`) or cancelled (`false`) in this channel.
    Ended(bool),
    /// Its lock is still in the channel.
    Locked,
    /// Not a lock of this channel, or one this client instance did not see end.
    Unknown,
}

/// What woke [`Client::wait_payment`].
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    State,
    Ended,
}
