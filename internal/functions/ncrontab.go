package functions

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NCRONTAB schedules (functions.md §6, Azure's): six fields {second} {minute} {hour} {day}
// {month} {day-of-week}, each '*', a value, a range a-b, a list a,b and a step */n or a-b/n;
// months and days of the week by English name or three-letter abbreviation, case-insensitive;
// Sunday is 0 (7 is accepted as Sunday too, as NCrontab does). A TimeSpan "hh:mm:ss" (App
// Service plans) is an interval instead. Times are UTC (or the host's location, see timer.go).

// schedule is a parsed timer schedule.
type schedule struct {
	expr     string
	interval time.Duration // a TimeSpan schedule; zero for NCRONTAB
	fields   [6]uint64     // bit sets: second, minute, hour, day (1-31), month (1-12), weekday (0-6)
}

var cronBounds = [6][2]int{{0, 59}, {0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}

var monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	"january": 1, "february": 2, "march": 3, "april": 4, "june": 6, "july": 7, "august": 8, "september": 9, "october": 10, "november": 11, "december": 12}
var dayNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}

// parseSchedule parses an NCRONTAB expression or a TimeSpan; the error is Azure's message.
func parseSchedule(expr string) (schedule, error) {
	bad := fmt.Errorf("The schedule expression '%s' was not recognized as a valid cron expression or timespan string.", expr)
	s := schedule{expr: expr}
	if d, ok := parseTimeSpan(expr); ok {
		if d <= 0 {
			return s, bad
		}
		s.interval = d
		return s, nil
	}
	f := strings.Fields(expr)
	if len(f) != 6 {
		return s, bad
	}
	for i, field := range f {
		bits, err := parseCronField(field, i)
		if err != nil {
			return s, bad
		}
		s.fields[i] = bits
	}
	if s.fields[5]&(1<<7) != 0 {
		s.fields[5] = s.fields[5]&^(1<<7) | 1
	}
	// A schedule that can never fire (31 February) is refused rather than spinning.
	if _, ok := s.next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); !ok {
		return s, bad
	}
	return s, nil
}

func parseCronField(field string, idx int) (uint64, error) {
	lo, hi := cronBounds[idx][0], cronBounds[idx][1]
	var bits uint64
	for _, item := range strings.Split(field, ",") {
		rng, stepStr, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n <= 0 || n > hi {
				return 0, fmt.Errorf("bad step")
			}
			step = n
		}
		var a, b int
		switch {
		case rng == "*" || rng == "?" && (idx == 3 || idx == 5):
			a, b = lo, hi
			if idx == 5 {
				b = 6
			}
		default:
			x, y, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = cronValue(x, idx); err != nil {
				return 0, err
			}
			b = a
			if isRange {
				if b, err = cronValue(y, idx); err != nil {
					return 0, err
				}
			} else if hasStep {
				b = hi // "a/n": from a to the end, as NCrontab reads it
			}
			if a > b {
				return 0, fmt.Errorf("bad range")
			}
		}
		for v := a; v <= b; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func cronValue(s string, idx int) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty")
	}
	var n int
	if idx == 4 {
		if v, ok := monthNames[strings.ToLower(s)]; ok {
			return v, nil
		}
	}
	if idx == 5 {
		if v, ok := dayNames[strings.ToLower(s)]; ok {
			return v, nil
		}
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not a number")
		}
		n = n*10 + int(c-'0')
		if n > 1000 {
			return 0, fmt.Errorf("out of range")
		}
	}
	if n < cronBounds[idx][0] || n > cronBounds[idx][1] {
		return 0, fmt.Errorf("out of range")
	}
	return n, nil
}

// parseTimeSpan reads .NET's TimeSpan "[d.]hh:mm:ss[.fffffff]".
func parseTimeSpan(s string) (time.Duration, bool) {
	days := 0
	rest := s
	if i := strings.IndexByte(s, ':'); i > 0 {
		if j := strings.IndexByte(s[:i], '.'); j >= 0 {
			d, err := strconv.Atoi(s[:j])
			if err != nil || d < 0 || d > 10000 {
				return 0, false
			}
			days, rest = d, s[j+1:]
		}
	}
	p := strings.Split(rest, ":")
	if len(p) != 3 {
		return 0, false
	}
	h, err1 := strconv.Atoi(p[0])
	m, err2 := strconv.Atoi(p[1])
	secStr, frac, _ := strings.Cut(p[2], ".")
	sec, err3 := strconv.Atoi(secStr)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59 ||
		len(p[0]) == 0 || len(p[0]) > 2 || len(p[1]) == 0 || len(p[1]) > 2 || len(secStr) == 0 || len(secStr) > 2 || strings.HasPrefix(p[0], "+") {
		return 0, false
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
	if frac != "" {
		if len(frac) > 7 {
			return 0, false
		}
		for _, c := range frac {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		f, _ := strconv.Atoi(frac + strings.Repeat("0", 7-len(frac)))
		d += time.Duration(f) * 100
	}
	return d, true
}

// next returns the first occurrence strictly after t (in t's location), for NCRONTAB schedules.
// false when there is none within eight years.
func (s schedule) next(t time.Time) (time.Time, bool) {
	if s.interval > 0 {
		return t.Add(s.interval), true
	}
	t = t.Truncate(time.Second).Add(time.Second)
	limit := t.AddDate(8, 0, 0)
	for t.Before(limit) {
		if s.fields[4]&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, t.Location())
			continue
		}
		if !s.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
			continue
		}
		if s.fields[2]&(1<<uint(t.Hour())) == 0 {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, t.Location())
			continue
		}
		if s.fields[1]&(1<<uint(t.Minute())) == 0 {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, t.Location())
			continue
		}
		if s.fields[0]&(1<<uint(t.Second())) == 0 {
			t = t.Add(time.Second)
			continue
		}
		return t, true
	}
	return time.Time{}, false
}

// dayMatches: NCrontab (which Azure uses) requires both the day of the month and the day of the
// week to match, unlike Vixie cron's "either".
func (s schedule) dayMatches(t time.Time) bool {
	return s.fields[3]&(1<<uint(t.Day())) != 0 && s.fields[5]&(1<<uint(t.Weekday())) != 0
}
