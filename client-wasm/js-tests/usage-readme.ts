// The calls exactly as the package README's quick start writes them. Type-checked by types.test.mjs; it does not
// compile today (see the `todo` there): optional arguments are declared required (`options: X | undefined`), and
// `on` types every listener's event as the whole `SpokeEvent` union.
import { SpokeClient, SpokeWallet } from "spoke-client";
import type { Hex } from "spoke-client";

export async function quickStart(dai: Hex, recipient: Hex, secret: Hex): Promise<void> {
  const wallet = await SpokeWallet.open();
  const client = await SpokeClient.connect({ nodeUrl: "https://node.example", ethUrl: "https://rpc.example", wallet });
  client.on("paymentReceived", (e) => console.log(`got ${e.amount} of ${e.asset} from ${e.from}`));
  await client.deposit(dai, 10n ** 18n);
  await client.pay(recipient, dai, 5n * 10n ** 17n);
  await client.withdraw(dai, 10n ** 17n);
  await client.redeemLink(secret);
  console.log((await client.getChannel()).balances, SpokeWallet.exists(), SpokeWallet.storedAddress());
}
