import {Component, onWillUnmount, useState} from "@odoo/owl";
import {Dialog} from "@web/core/dialog/dialog";
import {useBus} from "@web/core/utils/hooks";
import {_t} from "@web/core/l10n/translation";
import {formatMpesaTimestamp, displayMpesaPhone} from "@pos_mpesa/utils/phone";
import {
    isReceiptCode,
    isRecovered,
    mergeTicked,
    searchQuery,
    selectionMatches,
    selectionTotal,
    toCents,
    toggleSelection,
} from "@pos_mpesa/utils/till_pay";

// The search box asks the server once the cashier stops typing this long.
export const SEARCH_DEBOUNCE_MS = 400;
// A receipt lookup: M-Pesa answers within seconds; the popup asks this often, this many times.
export const LOOKUP_POLL_MS = 2000;
const LOOKUP_MAX_POLLS = 30;

/**
 * Lists the unmatched M-Pesa payments; the cashier ticks the customer's (one, or several that add up
 * to the line's amount exactly). The search box finds a payment by receipt code (asking M-Pesa when
 * Odoo never received it), phone digits or name, whatever its amount. The claim happens here, all
 * ticked payments or none, so that a payment another till took first is reported in place and the
 * list refreshed. Answers {action: "claimed", payments: [{callback_id, receipt_number, amount,
 * phone_number}]} or {action: "skip"} (Validate Without Matching Payment); closing answers nothing.
 */
export class MpesaPaymentSelectDialog extends Component {
    static template = "pos_mpesa.MpesaPaymentSelectDialog";
    static components = {Dialog};
    static props = {
        amount: String,
        amountValue: Number,
        windowMinutes: Number,
        callbacks: Array,
        allAmounts: {type: Boolean, optional: true},
        // ({query, allAmounts}) => the search route's answer
        search: Function,
        // (lookupId) => /mpesa/lookup_status's answer
        lookup: {type: Function, optional: true},
        // (callbacks) => /mpesa/reconcile_callbacks's answer
        claim: Function,
        formatAmount: {type: Function, optional: true},
        events: {type: Object, optional: true},
        getPayload: Function,
        close: Function,
    };

    setup() {
        this.state = useState({
            callbacks: this.props.callbacks,
            selectedIds: [],
            allAmounts: Boolean(this.props.allAmounts),
            query: "",
            lookupMessage: "", // a receipt code M-Pesa is being asked about
            error: "",
            busy: false,
        });
        this.searchSeq = 0; // a newer search makes older answers (and lookups) stale
        this.timers = new Set();
        onWillUnmount(() => this.timers.forEach((timer) => clearTimeout(timer)));
        if (this.props.events) {
            useBus(this.props.events, "c2b-received", (ev) => this.onPaymentReceived(ev.detail));
        }
    }

    get selected() {
        const ids = this.state.selectedIds;
        return this.state.callbacks.filter((cb) => ids.includes(cb.id));
    }

    get total() {
        return selectionTotal(this.state.callbacks, this.state.selectedIds);
    }

    get canConfirm() {
        return (
            !this.state.busy &&
            selectionMatches(this.state.callbacks, this.state.selectedIds, this.props.amountValue)
        );
    }

    get totalClass() {
        const diff = toCents(this.total) - toCents(this.props.amountValue);
        return diff === 0 ? "text-success" : diff > 0 ? "text-danger" : "text-muted";
    }

    isSelected(callback) {
        return this.state.selectedIds.includes(callback.id);
    }

    isRecovered(callback) {
        return isRecovered(callback);
    }

    formatAmount(value) {
        return this.props.formatAmount
            ? this.props.formatAmount(value)
            : Number(value || 0).toFixed(2);
    }

    formatTime(callback) {
        return formatMpesaTimestamp(callback.transaction_date) || callback.create_date || "";
    }

    formatPhone(callback) {
        return displayMpesaPhone(callback.phone_number);
    }

    select(callback) {
        if (!this.state.busy) {
            this.state.selectedIds = toggleSelection(
                this.state.selectedIds,
                callback,
                this.props.amountValue
            );
            this.state.error = "";
        }
    }

    later(fn, delay) {
        const timer = setTimeout(() => {
            this.timers.delete(timer);
            fn();
        }, delay);
        this.timers.add(timer);
        return timer;
    }

    onSearchInput(ev) {
        this.state.query = ev.target.value;
        clearTimeout(this.searchTimer);
        this.timers.delete(this.searchTimer);
        this.searchTimer = this.later(() => this.refresh(), SEARCH_DEBOUNCE_MS);
    }

    onToggleAllAmounts(ev) {
        this.state.allAmounts = ev.target.checked;
        this.refresh();
    }

    async onPaymentReceived(payload) {
        const other =
            payload?.amount !== undefined && Number(payload.amount) !== this.props.amountValue;
        if (other && !this.state.allAmounts && !searchQuery(this.state.query)) {
            return;
        }
        await this.refresh();
    }

    /** Asks the server again with what the popup shows now (search box, All amounts). */
    async refresh() {
        const seq = ++this.searchSeq;
        const query = searchQuery(this.state.query);
        const result = await this.props.search({query, allAmounts: this.state.allAmounts});
        if (seq !== this.searchSeq) {
            return; // the cashier typed on meanwhile
        }
        this.state.lookupMessage = "";
        if (!result?.success) {
            this.state.error = result?.message || _t("Could not refresh the list of payments.");
            this.showResults([]);
            return;
        }
        this.state.error = "";
        this.showResults(result.callbacks || []);
        if (result.lookup_id && this.props.lookup) {
            this.state.lookupMessage = result.message || _t("Asking M-Pesa...");
            this.pollLookup(seq, result.lookup_id, 0);
        }
    }

    showResults(callbacks) {
        this.state.callbacks = mergeTicked(callbacks, this.state.callbacks, this.state.selectedIds);
        const shown = new Set(this.state.callbacks.map((cb) => cb.id));
        this.state.selectedIds = this.state.selectedIds.filter((id) => shown.has(id));
    }

    /** A receipt code Odoo never received: M-Pesa is asked; its payment is offered once found. */
    pollLookup(seq, lookupId, attempt) {
        this.later(async () => {
            if (seq !== this.searchSeq) {
                return;
            }
            const answer = await this.props.lookup(lookupId);
            if (seq !== this.searchSeq) {
                return;
            }
            if (answer?.success && answer.status === "pending") {
                if (attempt + 1 < LOOKUP_MAX_POLLS) {
                    this.pollLookup(seq, lookupId, attempt + 1);
                } else {
                    this.state.lookupMessage = "";
                    this.state.error = _t("M-Pesa did not answer yet: search again in a moment.");
                }
                return;
            }
            this.state.lookupMessage = "";
            if (answer?.success && answer.callbacks?.length) {
                this.showResults(answer.callbacks);
                return;
            }
            this.state.error = answer?.message || _t("M-Pesa could not be asked about it.");
        }, LOOKUP_POLL_MS);
    }

    get searchHint() {
        const query = searchQuery(this.state.query);
        if (!query) {
            return "";
        }
        return isReceiptCode(query)
            ? _t("Receipt %s, whenever it was paid", query.toUpperCase())
            : _t("Payments of any amount matching “%s”", query);
    }

    async confirm() {
        const callbacks = this.selected;
        if (!this.canConfirm) {
            return;
        }
        this.state.busy = true;
        try {
            const result = await this.props.claim(callbacks);
            if (result?.success) {
                this.props.getPayload({action: "claimed", payments: result.payments || []});
                this.props.close();
                return;
            }
            this.state.error = _t("%(message)s. Choose another payment.", {
                message: (result?.message || _t("This payment could not be taken")).replace(
                    /[.!]$/,
                    ""
                ),
            });
            // the list as it is now: a payment another till took disappears (and is unticked)
            this.state.query = "";
            const ticked = this.state.selectedIds;
            this.state.selectedIds = [];
            const error = this.state.error;
            await this.refresh();
            this.state.error = error;
            const shown = new Set(this.state.callbacks.map((cb) => cb.id));
            this.state.selectedIds = ticked.filter((id) => shown.has(id));
        } finally {
            this.state.busy = false;
        }
    }

    skip() {
        this.props.getPayload({action: "skip"});
        this.props.close();
    }
}
