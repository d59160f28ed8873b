// Package phone is the interactive face of ciba-authenticator on a
// terminal: a full-screen simulated phone built with bubbletea and
// lipgloss, showing the user's authentication requests the way a real
// authentication device would (CIBA Core 1.0 §8: the authentication
// device shows the client, the scope and the binding message, and obtains
// the user's consent).
//
// The screen is a fixed-width frame centred in the terminal: a status bar
// (device, user, connection state, clock); a lock screen with a PIN pad
// when the device has a PIN; an inbox of pending requests, newest first,
// each with a countdown bar, and a badge with their count; a request
// screen with Approve and Deny buttons (keys and mouse) that says which
// acr an approval carries and warns before approving when the requested
// acr cannot be met; and a history of decisions with their outcome as the
// OP confirmed it. Requests decided elsewhere, redeemed or expired leave
// the inbox with a short toast.
//
// The model knows nothing of NATS: the caller feeds it [RequestMsg],
// [ClosedMsg] and [ConnMsg] (tea.Program.Send) and sends decisions through
// [Config.Decide]. Its clock is injected, so that a rendering is a pure
// function of the model (golden tests).
package phone
