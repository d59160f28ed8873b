package phone

import "github.com/charmbracelet/lipgloss"

// styles are the phone's looks; adaptive colours follow the terminal's
// light or dark background, and a renderer without colours (NO_COLOR)
// draws them plain.
type styles struct {
	frame, title, faint, badge, warn, good, bad, message, button, focused, banner, toast, bar, barEmpty, key lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	accent := lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#B9A6FF"}
	dim := lipgloss.AdaptiveColor{Light: "#6B6B6B", Dark: "#9A9A9A"}
	warn := lipgloss.AdaptiveColor{Light: "#A04800", Dark: "#FFB454"}
	good := lipgloss.AdaptiveColor{Light: "#1B7F3B", Dark: "#6BDB8F"}
	bad := lipgloss.AdaptiveColor{Light: "#B3261E", Dark: "#FF8A80"}
	ink := lipgloss.AdaptiveColor{Light: "#FFFFFF", Dark: "#1A1A1A"}
	return styles{
		frame:    r.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1),
		title:    r.NewStyle().Bold(true).Foreground(accent),
		faint:    r.NewStyle().Foreground(dim),
		badge:    r.NewStyle().Bold(true).Foreground(ink).Background(bad),
		warn:     r.NewStyle().Bold(true).Foreground(warn),
		good:     r.NewStyle().Foreground(good),
		bad:      r.NewStyle().Foreground(bad),
		message:  r.NewStyle().Bold(true),
		button:   r.NewStyle().Foreground(accent),
		focused:  r.NewStyle().Bold(true).Foreground(ink).Background(accent),
		banner:   r.NewStyle().Bold(true).Foreground(ink).Background(accent),
		toast:    r.NewStyle().Bold(true).Foreground(warn),
		bar:      r.NewStyle().Foreground(good),
		barEmpty: r.NewStyle().Foreground(dim),
		key:      r.NewStyle().Bold(true),
	}
}
