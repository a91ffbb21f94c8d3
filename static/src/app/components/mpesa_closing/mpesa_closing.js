import {ClosePosPopup} from "@point_of_sale/app/components/popups/closing_popup/closing_popup";

// The closing data carry the till's M-Pesa figures (pos.session.get_closing_control_data, key "mpesa"):
// its M-Pesa lines next to the payments M-Pesa received, and the differences in words.
ClosePosPopup.props = [...ClosePosPopup.props, "mpesa?", "mpesa_differences?"];
