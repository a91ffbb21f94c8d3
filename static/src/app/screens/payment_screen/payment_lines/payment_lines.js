import {PaymentScreenPaymentLines} from "@point_of_sale/app/screens/payment_screen/payment_lines/payment_lines";
import {MpesaLineStatus} from "@pos_mpesa/app/components/mpesa_line_status/mpesa_line_status";

PaymentScreenPaymentLines.components = {...PaymentScreenPaymentLines.components, MpesaLineStatus};
